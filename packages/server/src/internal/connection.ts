/**
 * The state of one client connection, changed only through this class's
 * methods (the other modules read it and say what happened): what CONNECT
 * said (`connectAt`, `identify`, `accepted`), its life (`closeWith`, `end`,
 * `takeWill`), the test's decisions for it (`blackhole`,
 * `stopHandlingPackets`; the rest is its `policy`), topic aliases, counters,
 * packets held behind a delayed CONNACK and when the client was last heard
 * from. What is queued for the socket is its `outbox` (outbox.ts). Every
 * change is synchronous (no yields in between), so fibers never see half an
 * update.
 */
import type { Policy } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import type { Session } from "@mqttest/session"
import type * as Effect from "effect/Effect"
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

/** What an MQTT 5 client announced in CONNECT about what it can take. */
export interface ClientLimits {
  /** Receive Maximum (65535 when not announced). */
  readonly receiveMaximum: number
  /** Maximum Packet Size, if announced. */
  readonly maximumPacketSize: number | undefined
  /** Highest topic alias the client accepts from the server (0: none). */
  readonly topicAliasMaximum: number
  /** Whether it wants reason strings and user properties on acknowledgements. */
  readonly requestProblemInformation: boolean
}

const defaultLimits: ClientLimits = {
  receiveMaximum: 65535,
  maximumPacketSize: undefined,
  topicAliasMaximum: 0,
  requestProblemInformation: true
}

/** What an accepted CONNECT sets up (see `Connection.accepted`). */
export interface Accepted {
  readonly session: Session.Session
  readonly will: Packet.Will | undefined
  /** Keep alive in seconds (0 = off), as the client asked or the server imposed. */
  readonly keepAlive: number
  readonly limits: ClientLimits
}

export class Connection {
  private _clientId: string | undefined = undefined
  private _level: Packet.ProtocolLevel = 4
  private _connectReceived = false
  private _connected = false
  private _session: Session.Session | undefined = undefined
  private _will: Packet.Will | undefined = undefined
  private _keepAlive = 0
  private _willPublished = false
  private _closing: CloseReason | undefined = undefined
  private _limits: ClientLimits = defaultLimits
  private _open = true
  private _stopHandling = false
  private _blackholed = false
  /** Topic aliases the client set on this connection (MQTT 5); made on first use. */
  private aliasesIn: Map<number, string> | undefined = undefined
  /** Topic aliases the server assigned towards the client, by topic; made on first use. */
  private aliasesOut: Map<string, number> | undefined = undefined
  /** Packet ids of QoS 1/2 PUBLISHes received on this connection, to spot resends; made on first use. */
  private publishIds: Set<number> | undefined = undefined
  /** Packets held back while a delayed CONNACK waits; undefined when not holding. */
  private held: Array<Packet.Packet> | undefined = undefined
  /** Clock millis of the last packet received (or of the CONNACK, for the keep alive). */
  private heard: number
  private readonly count: { -readonly [K in keyof Counters]: number } = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesDropped: 0
  }

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

  // ------------------------------------------------------------ CONNECT

  /** The client id, once CONNECT named it (or the server assigned one). */
  get clientId(): string | undefined {
    return this._clientId
  }
  /** Protocol level: 4 until CONNECT says otherwise. */
  get level(): Packet.ProtocolLevel {
    return this._level
  }
  /** A CONNECT has been received. */
  get connectReceived(): boolean {
    return this._connectReceived
  }
  /** CONNACK 0 was sent: the client is connected and owns its session. */
  get connected(): boolean {
    return this._connected
  }
  get session(): Session.Session | undefined {
    return this._session
  }
  /** The will, until it is published or discarded. */
  get will(): Packet.Will | undefined {
    return this._will
  }
  /** Keep alive in seconds (0 = off). */
  get keepAlive(): number {
    return this._keepAlive
  }
  /** What the client announced it can take (MQTT 5; the protocol's defaults otherwise). */
  get limits(): ClientLimits {
    return this._limits
  }

  /** A CONNECT came, at this protocol level. */
  connectAt(level: Packet.ProtocolLevel): void {
    this._connectReceived = true
    this._level = level
  }

  /** The client id is known: client id rules of the policy apply from now on. */
  identify(clientId: string): void {
    this._clientId = clientId
    this.policy.identify(clientId)
  }

  /** The CONNECT was accepted: the client is connected, with its session. */
  accepted(accepted: Accepted): void {
    this._session = accepted.session
    this._will = accepted.will
    this._keepAlive = accepted.keepAlive
    this._limits = accepted.limits
    this._connected = true
  }

  // --------------------------------------------------------------- life

  /** Set once the connection is closing: no more packets are processed. */
  get closing(): CloseReason | undefined {
    return this._closing
  }
  /** Marks the connection closing (the first reason wins); false when it was already. */
  closeWith(reason: CloseReason): boolean {
    if (this._closing !== undefined) return false
    this._closing = reason
    return true
  }
  /** The connection has not ended yet (see `end`). */
  get open(): boolean {
    return this._open
  }
  /** The connection ended; false when it had already. */
  end(): boolean {
    if (!this._open) return false
    this._open = false
    return true
  }
  /** Whether the will was published because of how this connection ended (or a DISCONNECT 0x04). */
  get willPublished(): boolean {
    return this._willPublished
  }
  /** Takes the will (once): `published` says whether it goes out now, or later (a delayed will). */
  takeWill(published: boolean): Packet.Will | undefined {
    const will = this._will
    this._will = undefined
    if (will !== undefined && published) this._willPublished = true
    return will
  }

  // ---------------------------------------------------------- decisions

  /** Set by the `maxPackets` behaviour: later packets are received but not handled. */
  get stopHandling(): boolean {
    return this._stopHandling
  }
  stopHandlingPackets(): void {
    this._stopHandling = true
  }
  /** A blackholed connection is neither read nor written any more. */
  get blackholed(): boolean {
    return this._blackholed
  }
  /** Blackholes the connection; false when it was already. */
  blackhole(): boolean {
    if (this._blackholed) return false
    this._blackholed = true
    return true
  }

  // ------------------------------------------------------- topic aliases

  /** The client set topic alias `alias` for `topic` (MQTT 5). */
  setAliasIn(alias: number, topic: string): void {
    this.aliasesIn ??= new Map()
    this.aliasesIn.set(alias, topic)
  }
  /** The topic of a topic alias the client set. */
  aliasIn(alias: number): string | undefined {
    return this.aliasesIn?.get(alias)
  }
  /**
   * The topic alias for a PUBLISH to the client: `known` when the topic has
   * one already, a new one while the client's maximum allows, else undefined.
   */
  aliasOut(
    topic: string,
    maximum: number = this._limits.topicAliasMaximum
  ): { readonly alias: number; readonly known: boolean } | undefined {
    this.aliasesOut ??= new Map()
    const known = this.aliasesOut.get(topic)
    if (known !== undefined) return { alias: known, known: true }
    if (this.aliasesOut.size >= maximum) return undefined
    const alias = this.aliasesOut.size + 1
    this.aliasesOut.set(topic, alias)
    return { alias, known: false }
  }
  /** A QoS 1/2 PUBLISH with this packet id came in: true when one with the same id came before. */
  seenPublishId(packetId: number): boolean {
    this.publishIds ??= new Set()
    const seen = this.publishIds.has(packetId)
    this.publishIds.add(packetId)
    return seen
  }

  // ------------------------------------------------------------ counters

  /** Packets and bytes both ways, and messages dropped for it. */
  get counters(): Readonly<Counters> {
    return this.count
  }
  countIn(bytes: number): void {
    this.count.bytesIn += bytes
  }
  countPacketIn(): void {
    this.count.packetsIn++
  }
  countOut(bytes: number): void {
    this.count.bytesOut += bytes
  }
  countPacketOut(): void {
    this.count.packetsOut++
  }
  countDropped(): void {
    this.count.messagesDropped++
  }

  // ------------------------------------------------- output and keep alive

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
