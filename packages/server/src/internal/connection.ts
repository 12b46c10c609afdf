/**
 * The state of one client connection, shared by the connection loop, the
 * packet handlers and the broker. Everything here is mutated synchronously
 * (no yields in between), so fibers never see half an update.
 */
import type { Policy } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import type { Session } from "@mqttest/session"
import { Clock, type Effect } from "effect"
import type { CloseReason, Counters } from "../ServerEvent.js"

/** What the connection's outbox holds: a packet, or a packet released by a fault (written as it is). */
export type Outgoing = Packet.Packet | Released

/** A packet a `reorder` fault held back, now written without further faults. */
export interface Released {
  readonly _tag: "Released"
  readonly packet: Packet.Packet
}

export interface ConnectionIO {
  /** Queues a packet for writing. */
  readonly write: (item: Outgoing) => void
  /** Ends the output: what is queued is written, then the socket is closed. */
  readonly end: () => void
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
  /** Completes once the outbox has room (fewer than `maxOutbox` packets not taken by the socket). */
  readonly room: Effect.Effect<void>
  /** Closes the socket at once, dropping unwritten output. */
  readonly destroy: () => void
  /** Closes the socket with a TCP RST. */
  readonly reset: () => void
}

/** Whether a connection's outbox is full (see `maxOutbox`). */
export const outboxFull = (conn: Connection, maxOutbox: number): boolean => conn.unwritten >= maxOutbox

const liveClock = Clock.Clock.defaultValue()

/** Real time a consumer with a full outbox may take nothing before it counts as stalled (not just slow). */
export const STALL_MS = 500

/** A consumer that has packets waiting and whose socket took nothing for `STALL_MS` (real time). */
export const stalled = (conn: Connection): boolean =>
  conn.unwritten > 0 && liveClock.currentTimeMillisUnsafe() - conn.lastProgress > STALL_MS

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
  /** Clock millis of the last packet received. */
  lastReceived: number
  /** The will was published because of how this connection ended (or a DISCONNECT 0x04). */
  willPublished = false
  /** Set once the connection is closing: no more packets are processed. */
  closing: CloseReason | undefined
  /** Receive Maximum the client announced (MQTT 5); 65535 otherwise. */
  clientReceiveMaximum = 65535
  /** Maximum Packet Size the client announced (MQTT 5). */
  clientMaximumPacketSize: number | undefined
  /** Topic aliases the client set on this connection (MQTT 5). */
  readonly topicAliasesIn = new Map<number, string>()
  /** Highest topic alias the client accepts from the server (MQTT 5). */
  clientTopicAliasMaximum = 0
  /** Topic aliases the server assigned towards the client, by topic. */
  readonly topicAliasesOut = new Map<string, number>()
  /** The client wants reason strings and user properties on acknowledgements (MQTT 5). */
  requestProblemInformation = true
  /** Packet ids of QoS 1/2 PUBLISHes received on this connection, to spot resends. */
  readonly publishIds = new Set<number>()
  /** Packets held back while a delayed CONNACK waits; undefined when not holding. */
  held: Array<Packet.Packet> | undefined
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
  /** Packets queued for writing that the socket has not taken yet (the outbox). */
  unwritten = 0
  /** The server stopped reading this client until its outbox drains (reported once per episode). */
  readPaused = false
  /** Real-time millis when the socket last took a batch: a consumer that takes nothing for a while is stalled. */
  lastProgress: number
  /** A consumer whose full outbox this client's last PUBLISH went to: its reading waits for that outbox. */
  blockedBy: Connection | undefined
  /** QoS 0 messages dropped since this client's outbox last filled up (a slow-consumer episode), if one is on. */
  droppedInEpisode: number | undefined
  open = true

  constructor(
    readonly id: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly io: ConnectionIO,
    /** The test's policy for this connection (its behaviour, delays, faults: see @mqttest/behavior). */
    readonly policy: Policy.ConnectionPolicy,
    now: number
  ) {
    this.lastReceived = now
    this.acceptedAt = now
    this.lastProgress = liveClock.currentTimeMillisUnsafe()
  }

  /** Clock millis when the connection was accepted. */
  readonly acceptedAt: number

  /** Queues a packet unless the connection is closing (or holds it behind a delayed CONNACK). */
  send(packet: Packet.Packet): void {
    if (this.closing !== undefined) return
    if (this.held !== undefined) this.held.push(packet)
    else this.io.write(packet)
  }

  /** Writes the packets held behind a delayed CONNACK, in order. */
  release(): void {
    const held = this.held
    this.held = undefined
    if (held !== undefined && this.closing === undefined) for (const packet of held) this.io.write(packet)
  }
}
