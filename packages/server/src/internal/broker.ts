/**
 * The broker: every connection, session, subscription and retained message
 * of one server, and the routing of application messages between them.
 * All methods are synchronous; timers are forked through the connection's
 * or the server's fiber set.
 */
import type { Packet } from "@mqttest/codec"
import { Message, RetainedStore, type Session, SubscriptionIndex, Topic } from "@mqttest/session"
import { Duration, Effect, type Fiber } from "effect"
import type * as Config from "../Config.js"
import type { CloseReason, ServerEvent, Stats } from "../ServerEvent.js"
import { CLOSE, type Connection } from "./connection.js"

/** Events without their timestamp: the broker stamps them. */
export type EventInput = ServerEvent extends infer E ? (E extends ServerEvent ? Omit<E, "timestamp"> : never) : never

export interface BrokerDeps {
  readonly config: Config.Resolved
  readonly now: () => number
  readonly emit: (event: EventInput) => void
  /** Forks an effect that lives as long as the server. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
}

const NEVER_EXPIRES = 0xffffffff

export class Broker {
  readonly connections = new Map<number, Connection>()
  /** Connected clients by client id. */
  readonly clients = new Map<string, Connection>()
  readonly sessions = new Map<string, Session.Session>()
  readonly index = new SubscriptionIndex.SubscriptionIndex()
  readonly retained = new RetainedStore.RetainedStore()
  /** Counters of every connection ever accepted, open or not. */
  readonly history: Array<Connection> = []
  private generated = 0
  private readonly shareCursor = new Map<string, number>()
  private readonly expiryTimers = new Map<Session.Session, Fiber.Fiber<unknown, unknown>>()
  readonly startedAt: number

  constructor(readonly deps: BrokerDeps) {
    this.startedAt = deps.now()
  }

  get config(): Config.Resolved {
    return this.deps.config
  }

  /** A client id for a client that sent an empty one. */
  generateClientId(): string {
    let id: string
    do id = `mqttest-${++this.generated}`
    while (this.clients.has(id) || this.sessions.has(id))
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
    this.close(conn, "ProtocolViolation", reasonCode)
  }

  /**
   * Closes a connection: queued packets are written, then (MQTT 5, once
   * connected) a DISCONNECT with `reasonCode`, then the socket is closed.
   */
  close(conn: Connection, reason: CloseReason, reasonCode?: number): void {
    if (conn.closing !== undefined) return
    if (reasonCode !== undefined && conn.level === 5 && conn.connected) {
      conn.send({ _tag: "Disconnect", reasonCode })
    }
    conn.closing = reason
    conn.io.write(CLOSE)
  }

  /** Called once when a connection has ended, whatever ended it. */
  finalize(conn: Connection, reason: CloseReason): void {
    if (!conn.open) return
    conn.open = false
    this.connections.delete(conn.id)
    for (const timer of conn.resendTimers.values()) timer.interruptUnsafe()
    conn.resendTimers.clear()
    const owner = conn.clientId !== undefined && this.clients.get(conn.clientId) === conn
    if (conn.connected && conn.will !== undefined && reason !== "ClientDisconnect") this.publishWill(conn)
    if (owner) {
      this.clients.delete(conn.clientId!)
      const session = conn.session
      if (session !== undefined) this.sessionOffline(session)
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
    const will = conn.will
    if (will === undefined) return
    conn.will = undefined
    conn.willPublished = true
    this.publish({
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      properties: will.properties === undefined ? undefined : Message.forwardedProperties(willMessageProperties(will)),
      publisher: conn.clientId,
      receivedAt: this.deps.now()
    })
  }

  /** A session's client went away: end the session or keep it for its expiry interval. */
  private sessionOffline(session: Session.Session): void {
    if (session.expiryInterval === 0) {
      this.discardSession(session)
    } else if (session.expiryInterval !== NEVER_EXPIRES) {
      const timer = this.deps.fork(
        Effect.sleep(Duration.seconds(session.expiryInterval)).pipe(
          Effect.andThen(
            Effect.sync(() => {
              this.expiryTimers.delete(session)
              if (!this.clients.has(session.clientId)) this.discardSession(session)
            })
          )
        )
      )
      this.expiryTimers.set(session, timer)
    }
  }

  /** A client resumed its session: stop the session's expiry. */
  sessionOnline(session: Session.Session): void {
    this.expiryTimers.get(session)?.interruptUnsafe()
    this.expiryTimers.delete(session)
  }

  /** Removes a session and its subscriptions. */
  discardSession(session: Session.Session): void {
    this.sessionOnline(session)
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId)
    for (const subscription of session.subscriptions.values()) {
      const parsed = Topic.parseFilter(subscription.topicFilter, 5)
      if (!Topic.isProblem(parsed)) this.index.remove(parsed, session.clientId)
    }
    session.subscriptions.clear()
  }

  // ---------------------------------------------------------------- routing

  /** Routes an application message to every matching subscriber, and stores it if retained. */
  publish(message: Message.Message): void {
    if (message.retain) this.retained.set(message)
    const targets = new Map<string, { qos: Packet.QoS; ids: Array<number>; retain: boolean }>()
    const shared = new Map<string, Array<SubscriptionIndex.Subscription>>()
    for (const s of this.index.match(message.topic)) {
      if (s.shareGroup !== undefined) {
        const key = `${s.shareGroup}\u0000${s.topicFilter}`
        const members = shared.get(key)
        if (members === undefined) shared.set(key, [s])
        else members.push(s)
        continue
      }
      // No Local: not back to the publisher [MQTT-3.8.3-3].
      if (s.noLocal && s.clientId === message.publisher) continue
      addTarget(targets, s, message.retain && s.retainAsPublished)
    }
    for (const [key, members] of shared) {
      // One member of the group receives it, in turn.
      const cursor = this.shareCursor.get(key) ?? 0
      this.shareCursor.set(key, cursor + 1)
      addTarget(targets, members[cursor % members.length]!, false)
    }
    for (const [clientId, target] of targets) {
      const session = this.sessions.get(clientId)
      if (session === undefined) continue
      const qos = Math.min(message.qos, target.qos) as Packet.QoS
      this.deliver(session, message, qos, target.retain, target.ids)
    }
  }

  /** Sends the retained messages matching a new subscription [MQTT-3.3.1-6]. */
  sendRetained(session: Session.Session, levels: ReadonlyArray<string>, grantedQoS: Packet.QoS, id?: number): void {
    for (const message of this.retained.match(levels)) {
      const qos = Math.min(message.qos, grantedQoS) as Packet.QoS
      this.deliver(session, message, qos, true, id === undefined ? [] : [id])
    }
  }

  /** Delivers to a session's client now, or queues it when the client cannot take it yet. */
  deliver(
    session: Session.Session,
    message: Message.Message,
    qos: Packet.QoS,
    retain: boolean,
    subscriptionIds: ReadonlyArray<number> = []
  ): void {
    const conn = this.clients.get(session.clientId)
    const item: Message.Message = { ...message, qos, retain }
    if (conn === undefined || !conn.connected || conn.closing !== undefined) {
      // QoS 0 messages are not kept for offline clients.
      if (qos > 0 && session.expiryInterval !== 0) this.enqueue(session, item)
      return
    }
    this.transmit(conn, session, item, subscriptionIds)
  }

  private enqueue(session: Session.Session, message: Message.Message): void {
    if (!session.enqueue(message)) {
      this.warn(this.clients.get(session.clientId), `queue of ${session.clientId} is full: oldest message dropped`)
    }
  }

  /** Writes a PUBLISH for a message, tracking it when QoS > 0. */
  transmit(conn: Connection, session: Session.Session, message: Message.Message, ids: ReadonlyArray<number>): void {
    const now = this.deps.now()
    const remaining = Message.remainingExpiry(message, now)
    if (remaining !== undefined && remaining <= 0) return
    let properties = conn.level === 5 ? Message.forwardedProperties(message.properties) : undefined
    if (conn.level === 5) {
      if (remaining !== undefined) properties = { ...properties, messageExpiryInterval: remaining }
      if (ids.length > 0) properties = { ...properties, subscriptionIdentifiers: [...ids] }
    }
    const base = {
      _tag: "Publish" as const,
      topic: message.topic,
      payload: message.payload,
      qos: message.qos,
      retain: message.retain,
      dup: false,
      ...(properties !== undefined ? { properties } : {})
    }
    if (message.qos === 0) {
      conn.send(base)
      return
    }
    const packetId = session.outbound.size < conn.clientReceiveMaximum ? session.allocatePacketId() : undefined
    if (packetId === undefined) {
      this.enqueue(session, message)
      return
    }
    const publish: Packet.Publish = { ...base, packetId }
    session.outbound.set(packetId, { packetId, publish, state: message.qos === 1 ? "puback" : "pubrec" })
    conn.send(publish)
    this.armResend(conn, session, packetId)
  }

  /** Sends queued messages while the client's receive maximum allows. */
  drainQueue(conn: Connection, session: Session.Session): void {
    while (session.queue.length > 0 && conn.closing === undefined) {
      const next = session.queue[0]!
      if (next.qos > 0 && session.outbound.size >= conn.clientReceiveMaximum) return
      session.queue.shift()
      this.transmit(conn, session, next, [])
    }
  }

  /** Resends everything in flight after a session resumes, DUP set [MQTT-4.4.0-1]. */
  resumeInflight(conn: Connection, session: Session.Session): void {
    for (const entry of session.outbound.values()) {
      conn.send(
        entry.state === "pubcomp" ? { _tag: "Pubrel", packetId: entry.packetId } : { ...entry.publish, dup: true }
      )
      this.armResend(conn, session, entry.packetId)
    }
  }

  /** Starts (or restarts) the ack timeout of a message in flight. */
  armResend(conn: Connection, session: Session.Session, packetId: number): void {
    conn.resendTimers.get(packetId)?.interruptUnsafe()
    conn.resendTimers.delete(packetId)
    const timeout = conn.level === 5 ? this.config.ackTimeouts.mqtt5 : this.config.ackTimeouts.mqtt3
    if (timeout === null) return
    const resend = Effect.sync(() => {
      const entry = session.outbound.get(packetId)
      if (entry === undefined || conn.closing !== undefined) return false
      conn.send(entry.state === "pubcomp" ? { _tag: "Pubrel", packetId } : { ...entry.publish, dup: true })
      return true
    })
    const loop: Effect.Effect<void> = Effect.sleep(Duration.millis(timeout)).pipe(
      Effect.andThen(resend),
      Effect.flatMap((again) => (again ? loop : Effect.void))
    )
    conn.resendTimers.set(packetId, conn.io.fork(loop))
  }

  /** An acknowledgement completed a message in flight. */
  completeOutbound(conn: Connection, session: Session.Session, packetId: number): void {
    session.outbound.delete(packetId)
    conn.resendTimers.get(packetId)?.interruptUnsafe()
    conn.resendTimers.delete(packetId)
    this.drainQueue(conn, session)
  }

  // ------------------------------------------------------------------ stats

  stats(): Stats {
    const perConnection = this.history.map((c) => ({
      connection: c.id,
      ...(c.clientId !== undefined ? { clientId: c.clientId } : {}),
      open: c.open,
      ...c.counters
    }))
    const sum = (key: "packetsIn" | "packetsOut" | "bytesIn" | "bytesOut") =>
      perConnection.reduce((n, c) => n + c[key], 0)
    return {
      elapsed: this.deps.now() - this.startedAt,
      connections: this.history.length,
      openConnections: this.connections.size,
      packetsIn: sum("packetsIn"),
      packetsOut: sum("packetsOut"),
      bytesIn: sum("bytesIn"),
      bytesOut: sum("bytesOut"),
      perConnection
    }
  }
}

const addTarget = (
  targets: Map<string, { qos: Packet.QoS; ids: Array<number>; retain: boolean }>,
  s: SubscriptionIndex.Subscription,
  retain: boolean
) => {
  const target = targets.get(s.clientId)
  if (target === undefined) {
    targets.set(s.clientId, {
      qos: s.qos,
      ids: s.subscriptionIdentifier === undefined ? [] : [s.subscriptionIdentifier],
      retain
    })
    return
  }
  // Overlapping subscriptions: one delivery at the highest granted QoS, with every identifier.
  if (s.qos > target.qos) target.qos = s.qos
  if (s.subscriptionIdentifier !== undefined) target.ids.push(s.subscriptionIdentifier)
  target.retain ||= retain
}

/** The will's properties that travel with the will message (not the will delay). */
const willMessageProperties = (will: Packet.Will): Packet.PublishProperties => {
  const { willDelayInterval: _delay, ...rest } = will.properties ?? {}
  return rest
}
