/**
 * CONNECT: protocol level, client id rules, authentication refusal, session
 * takeover and resumption, CONNACK, keep alive.
 */
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import { Session } from "@mqttest/session"
import { Duration, Effect } from "effect"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"

const NEVER_EXPIRES = 0xffffffff
const conservativeId = /^[0-9a-zA-Z]{1,23}$/

/** Refuses the connection with a CONNACK return/reason code, then closes it. */
const refuse = (broker: Broker, conn: Connection, v3Code: number, v5Code: number) => {
  conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: conn.level === 5 ? v5Code : v3Code })
  broker.close(conn, "ConnectRefused")
}

/** Closes a connection that stays silent for 1.5 × its keep alive [MQTT-3.1.2-24]. */
const keepAlive = (broker: Broker, conn: Connection): Effect.Effect<void> => {
  const limit = conn.keepAlive * 1500
  const check: Effect.Effect<void> = Effect.suspend(() => {
    if (conn.closing !== undefined) return Effect.void
    const idle = broker.deps.now() - conn.lastReceived
    if (idle >= limit) {
      broker.close(conn, "KeepAliveTimeout", ReasonCode.V5.KeepAliveTimeout)
      return Effect.void
    }
    return Effect.sleep(Duration.millis(limit - idle)).pipe(Effect.andThen(check))
  })
  return check
}

export const handleConnect = (broker: Broker, conn: Connection, packet: Packet.Connect): void => {
  if (conn.connectReceived) {
    return broker.violation(conn, "a second CONNECT on the same connection", "MQTT-3.1.0-2")
  }
  conn.connectReceived = true
  conn.level = packet.protocolLevel
  const level = packet.protocolLevel
  const strict = broker.config.strict

  let clientId = packet.clientId
  let assigned = false
  if (clientId === "") {
    if (level === 3) {
      broker.warn(conn, "MQTT 3.1 requires a client id of 1 to 23 characters")
      return refuse(broker, conn, ReasonCode.V3Connack.IdentifierRejected, 0)
    }
    if (level === 4 && !packet.clean) {
      broker.warn(conn, "empty client id with a persistent session is refused", "MQTT-3.1.3-8")
      return refuse(broker, conn, ReasonCode.V3Connack.IdentifierRejected, 0)
    }
    if (strict) {
      broker.warn(conn, "empty client id refused in strict mode", level === 5 ? "MQTT-3.1.3-6" : "MQTT-3.1.3-7")
      return refuse(broker, conn, ReasonCode.V3Connack.IdentifierRejected, ReasonCode.V5.ClientIdentifierNotValid)
    }
    clientId = broker.generateClientId()
    assigned = true
  } else if (!conservativeId.test(clientId)) {
    const message = `client id ${JSON.stringify(clientId)} is longer than 23 characters or uses characters outside [0-9a-zA-Z]: servers need not accept it`
    broker.warn(conn, message, "MQTT-3.1.3-5")
    if (strict)
      return refuse(broker, conn, ReasonCode.V3Connack.IdentifierRejected, ReasonCode.V5.ClientIdentifierNotValid)
  }

  if (level === 4 && packet.password !== undefined && packet.username === undefined) {
    conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: ReasonCode.V3Connack.BadUserNameOrPassword })
    return broker.violation(conn, "password without a user name", "MQTT-3.1.2-22")
  }
  if (level === 5 && packet.properties?.authenticationMethod !== undefined) {
    broker.warn(
      conn,
      `authentication method ${JSON.stringify(packet.properties.authenticationMethod)} is not supported`
    )
    return refuse(broker, conn, 0, ReasonCode.V5.BadAuthenticationMethod)
  }

  // Another connection with this client id is taken over [MQTT-3.1.4-2].
  const previous = broker.clients.get(clientId)
  if (previous !== undefined && previous !== conn) {
    broker.close(previous, "SessionTakenOver", ReasonCode.V5.SessionTakenOver)
    broker.clients.delete(clientId)
  }

  const expiry = level === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : packet.clean ? 0 : NEVER_EXPIRES
  let session = broker.sessions.get(clientId)
  if (session !== undefined && packet.clean) {
    broker.discardSession(session)
    session = undefined
  }
  const sessionPresent = session !== undefined
  if (session === undefined) {
    session = new Session.Session(clientId, expiry, broker.config.maxQueuedMessages)
    broker.sessions.set(clientId, session)
  } else {
    broker.sessionOnline(session)
    session.expiryInterval = expiry
  }

  conn.clientId = clientId
  conn.session = session
  conn.will = packet.will
  conn.keepAlive = packet.keepAlive
  if (level === 5) {
    conn.clientReceiveMaximum = packet.properties?.receiveMaximum ?? 65535
    conn.clientMaximumPacketSize = packet.properties?.maximumPacketSize
  }
  broker.clients.set(clientId, conn)
  conn.connected = true
  conn.send({
    _tag: "Connack",
    sessionPresent,
    reasonCode: 0,
    ...(level === 5 && assigned ? { properties: { assignedClientIdentifier: clientId } } : {})
  })
  if (conn.keepAlive > 0) conn.io.fork(keepAlive(broker, conn))
  broker.resumeInflight(conn, session)
  broker.drainQueue(conn, session)
}
