/**
 * The broker: every connection, session, subscription and retained message
 * of one server, and the routing of application messages between them.
 * All methods are synchronous; timers are forked through the connection's
 * or the server's fiber set.
 */
import type { Policy } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import { Message, type SessionStore } from "@mqttest/session"
import type * as Config from "../Config.js"
import type { CloseReason, ConnectionStats, ServerEvent, Stats } from "../ServerEvent.js"
import type { Connection } from "./connection.js"

/** Events without their timestamp: the broker stamps them. */
export type EventInput = ServerEvent extends infer E ? (E extends ServerEvent ? Omit<E, "timestamp"> : never) : never

export interface BrokerDeps {
  readonly config: Config.Resolved
  readonly now: () => number
  readonly emit: (event: EventInput) => void
  /** The sessions, subscriptions and retained messages (see @mqttest/session). */
  readonly store: SessionStore.Shape
  /** Routes an application message to its subscribers (see routing.ts): how a will goes out. */
  readonly route: (message: Message.Message) => void
}

export class Broker {
  private readonly live = new Map<number, Connection>()
  /** Connected clients by client id. */
  private readonly byClientId = new Map<string, Connection>()
  /** Connections accepted so far. */
  private accepted = 0
  /** Stats of the most recently closed connections (`connectionHistory` of them), oldest first. */
  private readonly closedStats: Array<ConnectionStats> = []
  /** Counters of the closed connections no longer listed: the totals still count them. */
  private readonly forgotten: { -readonly [K in CounterKey]: number } = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesDropped: 0
  }
  private generated = 0
  readonly startedAt: number

  constructor(readonly deps: BrokerDeps) {
    this.startedAt = deps.now()
  }

  /** Reports what the test's policy made the server do. */
  report(conn: Connection, injected: Policy.Injected): void {
    this.deps.emit({
      _tag: "FaultInjected",
      connection: conn.id,
      ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
      fault: injected.fault,
      detail: injected.detail
    })
  }

  get config(): Config.Resolved {
    return this.deps.config
  }

  /** A client id for a client that sent an empty one. */
  generateClientId(): string {
    let id: string
    do id = `mqttest-${++this.generated}`
    while (this.clients.has(id) || this.deps.store.get(id) !== undefined)
    return id
  }

  warn(conn: Connection | undefined, message: string, spec?: string): void {
    this.deps.emit({
      _tag: "Warning",
      ...(conn !== undefined ? { connection: conn.id } : {}),
      ...(conn?.clientId !== undefined ? { clientId: conn.clientId } : {}),
      message,
      ...(spec !== undefined ? { spec } : {})
    })
  }

  /**
   * A client broke the protocol: report it and close the connection, sending
   * an MQTT 5 DISCONNECT with `reasonCode` first when the client is connected.
   */
  violation(conn: Connection, message: string, spec: string | undefined, reasonCode = 0x82): void {
    if (conn.closing !== undefined) return
    this.deps.emit({
      _tag: "ProtocolViolation",
      connection: conn.id,
      ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
      message,
      ...(spec !== undefined ? { spec } : {})
    })
    this.close(conn, "ProtocolViolation", reasonCode, message)
  }

  /**
   * Closes a connection: queued packets are written, then (MQTT 5, once
   * connected) a DISCONNECT with `reasonCode`, then the socket is closed.
   */
  close(conn: Connection, reason: CloseReason, reasonCode?: number, reasonString?: string): void {
    if (conn.closing !== undefined) return
    if (reasonCode !== undefined && conn.level === 5 && conn.connected) {
      conn.send({
        _tag: "Disconnect",
        reasonCode,
        ...(reasonString !== undefined ? { properties: { reasonString } } : {})
      })
    }
    conn.closeWith(reason)
    conn.outbox.end()
  }

  /** The `slowConsumer: "disconnect"` policy: the client is closed at once (its outbox is full, nothing more can be written). */
  disconnectSlowConsumer(conn: Connection): void {
    if (conn.closing !== undefined) return
    this.warn(
      conn,
      `slow consumer ${conn.clientId}: outbox full (${this.deps.config.maxOutbox} packets not taken by the socket); disconnected`
    )
    this.abort(conn, "SlowConsumer")
  }

  /**
   * Closes a connection at once, dropping what it has not written: its socket
   * is destroyed (FIN), or reset (RST) with `how: "reset"`.
   */
  abort(conn: Connection, reason: CloseReason, how: "destroy" | "reset" = "destroy"): void {
    conn.closeWith(reason)
    if (how === "reset") conn.io.reset()
    else conn.io.destroy()
  }

  /** The live connections, by connection id. */
  get connections(): ReadonlyMap<number, Connection> {
    return this.live
  }

  /** The connected clients, by client id. */
  get clients(): ReadonlyMap<string, Connection> {
    return this.byClientId
  }

  /**
   * A client connected with this id: it owns the id from now on; a live
   * connection that had it is taken over [MQTT-3.1.4-2] (closed, MQTT 5:
   * DISCONNECT 0x8E first).
   */
  own(clientId: string, conn: Connection, takeOverCode: number): void {
    const previous = this.byClientId.get(clientId)
    if (previous !== undefined && previous !== conn) this.close(previous, "SessionTakenOver", takeOverCode)
    this.byClientId.set(clientId, conn)
  }

  /** A connection was accepted. */
  accept(conn: Connection): void {
    this.live.set(conn.id, conn)
    this.accepted++
  }

  /** Called once when a connection has ended, whatever ended it. */
  finalize(conn: Connection, reason: CloseReason): void {
    if (!conn.end()) return
    this.live.delete(conn.id)
    // Closed connections are kept as stats only, and only the latest `connectionHistory` of them.
    this.closedStats.push(statsOf(conn))
    if (this.closedStats.length > this.deps.config.connectionHistory) {
      const oldest = this.closedStats.shift()!
      for (const key of counterKeys) this.forgotten[key] += oldest[key]
    }
    const owner = conn.clientId !== undefined && this.clients.get(conn.clientId) === conn
    const session = conn.session
    let delayedWill: SessionStore.DelayedWill | undefined
    if (conn.connected && conn.will !== undefined && reason !== "ClientDisconnect") {
      const will = conn.will
      const delay = conn.level === 5 ? (will.properties?.willDelayInterval ?? 0) : 0
      if (delay > 0 && owner && session !== undefined && (session.expiryOverride ?? session.expiryInterval) > 0) {
        // MQTT 5 Will Delay Interval: the store publishes it when the delay has passed or the session ends,
        // unless the client resumes the session first [MQTT-3.1.3-9].
        delayedWill = { delay, publish: () => this.publishWillMessage(will, session.clientId) }
        conn.takeWill(false)
      } else {
        this.publishWill(conn)
      }
    }
    if (owner) {
      this.byClientId.delete(conn.clientId!)
      if (session !== undefined) this.deps.store.offline(session, delayedWill)
    }
    this.deps.emit({
      _tag: "ConnectionClosed",
      connection: conn.id,
      ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
      reason,
      willPublished: conn.willPublished
    })
  }

  /** Publishes a connection's will message (once). */
  publishWill(conn: Connection): void {
    const will = conn.takeWill(true)
    if (will !== undefined) this.publishWillMessage(will, conn.clientId)
  }

  private publishWillMessage(will: Packet.Will, clientId: string | undefined): void {
    this.deps.route({
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      properties: will.properties === undefined ? undefined : Message.forwardedProperties(willMessageProperties(will)),
      publisher: clientId,
      receivedAt: this.deps.now()
    })
  }

  // ------------------------------------------------------------------ stats

  stats(): Stats {
    const perConnection = [...this.closedStats, ...[...this.connections.values()].map(statsOf)].sort(
      (a, b) => a.connection - b.connection
    )
    const sum = (key: CounterKey) => perConnection.reduce((n, c) => n + c[key], this.forgotten[key])
    return {
      elapsed: this.deps.now() - this.startedAt,
      connections: this.accepted,
      openConnections: this.connections.size,
      packetsIn: sum("packetsIn"),
      packetsOut: sum("packetsOut"),
      bytesIn: sum("bytesIn"),
      bytesOut: sum("bytesOut"),
      messagesDropped: sum("messagesDropped"),
      perConnection
    }
  }
}

type CounterKey = "packetsIn" | "packetsOut" | "bytesIn" | "bytesOut" | "messagesDropped"
const counterKeys: ReadonlyArray<CounterKey> = ["packetsIn", "packetsOut", "bytesIn", "bytesOut", "messagesDropped"]

const statsOf = (c: Connection): ConnectionStats => ({
  connection: c.id,
  ...(c.clientId !== undefined ? { clientId: c.clientId } : {}),
  open: c.open,
  ...c.counters,
  outbox: c.open ? c.outbox.size : 0
})

/** The will's properties that travel with the will message (not the will delay). */
const willMessageProperties = (will: Packet.Will): Packet.PublishProperties => {
  const { willDelayInterval: _delay, ...rest } = will.properties ?? {}
  return rest
}
