/**
 * Routing: which sessions an application message goes to, and how it
 * reaches each client (now, or queued; tracked and resent when QoS > 0).
 */
import type { Packet } from "@mqttest/codec"
import { Message, type Session } from "@mqttest/session"
import * as Effect from "effect/Effect"
import type { Broker } from "./broker.js"
import type { Connection } from "./connection.js"
import { breaks } from "./outgoing.js"

/**
 * Routes an application message to every matching subscriber, and stores it
 * if retained. Returns the number of subscribers it went to.
 */
export const publish = (broker: Broker, message: Message.Message): number => {
  const store = broker.deps.store
  if (message.retain) store.retain(message)
  const deliveries = store.route(message)
  for (const delivery of deliveries) {
    deliver(broker, delivery.session, message, delivery.qos, delivery.retain, delivery.subscriptionIds)
  }
  return deliveries.length
}

/** Sends the retained messages matching a new subscription [MQTT-3.3.1-6]. */
export const sendRetained = (
  broker: Broker,
  session: Session.Session,
  levels: ReadonlyArray<string>,
  grantedQoS: Packet.QoS,
  id?: number
): void => {
  for (const message of broker.deps.store.retained(levels)) {
    const qos = Math.min(message.qos, grantedQoS) as Packet.QoS
    deliver(broker, session, message, qos, true, id === undefined ? [] : [id])
  }
}

/** Delivers to a session's client now, or queues it when the client cannot take it yet. */
export const deliver = (
  broker: Broker,
  session: Session.Session,
  message: Message.Message,
  qos: Packet.QoS,
  retain: boolean,
  subscriptionIds: ReadonlyArray<number> = []
): void => {
  const conn = broker.clients.get(session.clientId)
  const item: Message.Message = { ...message, qos, retain }
  if (conn === undefined || !conn.connected || conn.closing !== undefined) {
    // QoS 0 messages are not kept for offline clients.
    if (qos > 0 && session.expiryInterval !== 0) enqueue(broker, session, item)
    return
  }
  transmit(broker, conn, session, item, subscriptionIds)
}

const enqueue = (broker: Broker, session: Session.Session, message: Message.Message): void => {
  if (!session.enqueue(message)) {
    const conn = broker.clients.get(session.clientId)
    if (conn !== undefined) conn.countDropped()
    broker.warn(conn, `queue of ${session.clientId} is full: oldest message dropped`)
  }
}

/**
 * A PUBLISH for a client whose outbox is full, from a client that is still
 * reading it: the consumer is slower than its publishers, not stopped. The
 * message goes out anyway (the outbox may reach twice its bound), and the
 * publisher is not read on until the consumer has room again (TCP pushes back
 * on it), or until the consumer counts as stalled. True when it went out so.
 */
const pushBack = (broker: Broker, conn: Connection, message: Message.Message): boolean => {
  if (broker.config.slowConsumer === "disconnect") return false
  const publisher = message.publisher === undefined ? undefined : broker.clients.get(message.publisher)
  return publisher !== undefined && conn.outbox.pushBack(publisher.outbox)
}

/**
 * A PUBLISH for a client whose outbox is full: the `slowConsumer` policy.
 * QoS 0 is dropped (counted; one Warning when an episode starts, one when it
 * ends), QoS 1/2 waits in the session queue; or the client is disconnected.
 */
const slowConsumer = (broker: Broker, conn: Connection, session: Session.Session, message: Message.Message): void => {
  if (broker.config.slowConsumer === "disconnect") return broker.disconnectSlowConsumer(conn)
  if (message.qos > 0) return enqueue(broker, session, message)
  conn.countDropped()
  if (conn.outbox.dropped()) {
    broker.warn(
      conn,
      `slow consumer ${conn.clientId}: outbox full (${broker.config.maxOutbox} packets not taken by the socket); QoS 0 messages to it are dropped`
    )
  }
}

/** After a write: a slow consumer that caught up gets its queued messages again. */
export const caughtUp = (broker: Broker, conn: Connection): void => {
  if (conn.closing !== undefined) return
  const episode = conn.outbox.caughtUp()
  if (episode === undefined) return
  if (episode.dropped !== undefined) {
    broker.warn(conn, `slow consumer ${conn.clientId} caught up: ${episode.dropped} QoS 0 messages were dropped`)
  }
  if (conn.connected && conn.session !== undefined && conn.session.queue.length > 0) {
    drainQueue(broker, conn, conn.session)
  }
}

/** Writes a PUBLISH for a message, tracking it when QoS > 0. */
export const transmit = (
  broker: Broker,
  conn: Connection,
  session: Session.Session,
  message: Message.Message,
  ids: ReadonlyArray<number>
): void => {
  const now = broker.deps.now()
  const remaining = Message.remainingExpiry(message, now)
  if (remaining !== undefined && remaining <= 0) return
  if (conn.outbox.full && !pushBack(broker, conn, message)) {
    return slowConsumer(broker, conn, session, message)
  }
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
  const packetId = session.outbound.size < receiveMaximum(conn) ? session.allocatePacketId() : undefined
  if (packetId === undefined) {
    enqueue(broker, session, message)
    return
  }
  if (session.outbound.size >= conn.limits.receiveMaximum) {
    broker.report(conn, {
      fault: "breakClientLimits.receiveMaximum",
      detail: `PUBLISH ${packetId} makes ${session.outbound.size + 1} in flight; the client's Receive Maximum is ${conn.limits.receiveMaximum}`
    })
  }
  const publish = { ...base, packetId }
  session.sent(publish)
  conn.send(publish)
  armResend(conn, session, packetId)
}

/** The QoS 1/2 PUBLISHes the server lets be in flight to a client: its Receive Maximum, unless broken. */
const receiveMaximum = (conn: Connection): number =>
  breaks(conn, "receiveMaximum") ? 65535 : conn.limits.receiveMaximum

/** Sends queued messages while the client's receive maximum allows. */
export const drainQueue = (broker: Broker, conn: Connection, session: Session.Session): void => {
  while (session.queue.length > 0 && conn.closing === undefined) {
    const next = session.queue[0]!
    if (next.qos > 0 && session.outbound.size >= receiveMaximum(conn)) return
    if (conn.outbox.full) return
    session.dequeue()
    transmit(broker, conn, session, next, [])
  }
}

/** Resends everything in flight after a session resumes, DUP set [MQTT-4.4.0-1]. */
export const resumeInflight = (conn: Connection, session: Session.Session): void => {
  for (const entry of session.outbound.values()) {
    conn.send(
      entry.state === "pubcomp" ? { _tag: "Pubrel", packetId: entry.packetId } : { ...entry.publish, dup: true }
    )
    armResend(conn, session, entry.packetId)
  }
}

/** Starts (or restarts) the ack timeout of a message in flight. */
export const armResend = (conn: Connection, session: Session.Session, packetId: number): void => {
  // Ack timeouts: MQTT 3 resends after 5 s by default; MQTT 5 forbids resending on a live connection.
  const delays = conn.policy.resendDelays(conn.level, packetId)
  if (delays === undefined) return conn.io.cancelTimer(`resend/${packetId}`)
  const resend = Effect.sync(() => {
    const entry = session.outbound.get(packetId)
    if (entry === undefined || conn.closing !== undefined) return false
    // While the socket has not taken what is queued (the copy sent before may still be there), no resend:
    // one copy per packet id at a time, and nothing piles up behind a client that does not read.
    if (conn.outbox.size > 0) return true
    conn.send(entry.state === "pubcomp" ? { _tag: "Pubrel", packetId } : { ...entry.publish, dup: true })
    return true
  })
  const loop: Effect.Effect<void> = Effect.flatMap(delays.next, (delay) =>
    delay === undefined
      ? Effect.void
      : Effect.sleep(delay).pipe(
          Effect.andThen(resend),
          Effect.flatMap((again) => (again ? loop : Effect.void))
        )
  )
  conn.io.timer(`resend/${packetId}`, loop)
}

/** An acknowledgement completed a message in flight. */
export const completeOutbound = (
  broker: Broker,
  conn: Connection,
  session: Session.Session,
  packetId: number
): void => {
  session.completed(packetId)
  conn.io.cancelTimer(`resend/${packetId}`)
  drainQueue(broker, conn, session)
}
