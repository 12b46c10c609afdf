/**
 * The state of one client connection. Each part has one module that changes
 * it, and the others read it:
 * - what CONNECT said (client id, level, session, will, keep alive, the MQTT 5
 *   limits the client announced): handlers/connect.ts;
 * - its life (`closing`, `open`, the will going out): broker.ts;
 * - what is queued for the socket and the flow control that follows: its
 *   `outbox` (outbox.ts);
 * - the test's decisions for it: its `policy` (@mqttest/behavior), and
 *   `blackholed` / `stopHandling`: decisions.ts;
 * - packets held behind a delayed CONNACK and when the client was last heard
 *   from: this class's methods;
 * - topic aliases: handlers/publish.ts (client → server), outgoing.ts
 *   (server → client); counters: the pipeline or routing step that counts.
 * Everything is changed synchronously (no yields in between), so fibers
 * never see half an update.
 */
import type { Policy } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import type { Session } from "@mqttest/session"
import type { Effect } from "effect"
import type { CloseReason, Counters } from "../ServerEvent.js"
import type { Outbox, Outgoing } from "./outbox.js"

export interface ConnectionIO {
  /** Queues a packet for writing (past the outbox's capacity, the connection is closed). */
  readonly write: (item: Outgoing) => void
  /** Forks an effect that lives as long as the connection; a defect in it is reported and closes the connection. */
  readonly fork: (effect: Effect.Effect<unknown, unknown>) => void
  /**
   * Runs the connection's timer `key` (connect timeout, keep alive, max time,
   * blackhole, the resend of a packet id, …): a timer already running under
   * that key is interrupted first. All of them end with the connection.
   */
  readonly timer: (key: string, effect: Effect.Effect<unknown, unknown>) => void
  /** Stops the timer `key`, if it runs. */
  readonly cancelTimer: (key: string) => void
  /** Closes the socket at once, dropping unwritten output. */
  readonly destroy: () => void
  /** Closes the socket with a TCP RST. */
  readonly reset: () => void
}

export class Connection {
  clientId: string | undefined
  /** Protocol level: 4 until CONNECT says otherwise. */
  level: Packet.ProtocolLevel = 4
  /** A CONNECT has been received. */
  connectReceived = false
  /** CONNACK 0 was sent: the client is connected and owns its session. */
  connected = false
  session: Session.Session | undefined
  will: Packet.Will | undefined
  /** Keep alive in seconds (0 = off). */
  keepAlive = 0
  /** The will was published because of how this connection ended (or a DISCONNECT 0x04). */
  willPublished = false
  /** Set once the connection is closing: no more packets are processed. */
  closing: CloseReason | undefined
  /** Receive Maximum the client announced (MQTT 5); 65535 otherwise. */
  clientReceiveMaximum = 65535
  /** Maximum Packet Size the client announced (MQTT 5). */
  clientMaximumPacketSize: number | undefined
  /** Topic aliases the client set on this connection (MQTT 5); made on first use. */
  topicAliasesIn: Map<number, string> | undefined = undefined
  /** Highest topic alias the client accepts from the server (MQTT 5). */
  clientTopicAliasMaximum = 0
  /** Topic aliases the server assigned towards the client, by topic; made on first use. */
  topicAliasesOut: Map<string, number> | undefined = undefined
  /** The client wants reason strings and user properties on acknowledgements (MQTT 5). */
  requestProblemInformation = true
  /** Packet ids of QoS 1/2 PUBLISHes received on this connection, to spot resends; made on first use. */
  publishIds: Set<number> | undefined = undefined
  /** Packets held back while a delayed CONNACK waits; undefined when not holding. */
  private held: Array<Packet.Packet> | undefined = undefined
  /** Clock millis of the last packet received (or of the CONNACK, for the keep alive). */
  private heard: number
  /** Set by the `maxPackets` behaviour: later packets are received but not handled. */
  stopHandling = false
  /** A blackholed connection is neither read nor written any more. */
  blackholed = false
  readonly counters: { -readonly [K in keyof Counters]: number } = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesDropped: 0
  }
  open = true

  constructor(
    readonly id: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly io: ConnectionIO,
    /** What is queued for the socket, and the flow control that follows from it. */
    readonly outbox: Outbox,
    /** The test's policy for this connection (its behaviour, delays, faults: see @mqttest/behavior). */
    readonly policy: Policy.ConnectionPolicy,
    now: number
  ) {
    this.heard = now
    this.acceptedAt = now
  }

  /** Clock millis when the connection was accepted. */
  readonly acceptedAt: number

  /** Queues a packet unless the connection is closing (or holds it behind a delayed CONNACK). */
  send(packet: Packet.Packet): void {
    if (this.closing !== undefined) return
    if (this.held !== undefined) this.held.push(packet)
    else this.io.write(packet)
  }

  /** Holds every packet from now on behind a delayed CONNACK, until `release`. */
  hold(): void {
    this.held = []
  }

  /** Whether packets are held behind a delayed CONNACK. */
  get holding(): boolean {
    return this.held !== undefined
  }

  /**
   * Writes the packets held behind a delayed CONNACK, in order, at `now`: the
   * client's keep alive runs from the CONNACK it gets.
   */
  release(now: number): void {
    const held = this.held
    this.held = undefined
    this.heardAt(now)
    if (held !== undefined && this.closing === undefined) for (const packet of held) this.io.write(packet)
  }

  /** The client was heard from at `now` (clock millis): a packet came in. */
  heardAt(now: number): void {
    this.heard = Math.max(this.heard, now)
  }

  /** Clock millis when the client was last heard from (see `heardAt`). */
  get lastHeard(): number {
    return this.heard
  }
}
