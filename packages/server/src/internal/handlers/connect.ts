/**
 * CONNECT: protocol level, client id rules, authentication refusal, session
 * takeover and resumption, CONNACK, keep alive.
 */

import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"
import * as Decisions from "../decisions.js"
import * as Routing from "../routing.js"
import * as Auth from "./auth.js"

const NEVER_EXPIRES = 0xffffffff
const conservativeId = /^[0-9a-zA-Z]{1,23}$/

/** Refuses the connection with a CONNACK return/reason code, then closes it. */
const refuse = (broker: Broker, conn: Connection, v3Code: number, v5Code: number) => {
  conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: conn.level === 5 ? v5Code : v3Code })
  broker.close(conn, "ConnectRefused")
}

/**
 * Closes a connection that stays silent for 1.5 × its keep alive [MQTT-3.1.2-24],
 * counted from when the CONNACK went out (a delayed CONNACK does not eat the client's time).
 */
const keepAliveCheck = (broker: Broker, conn: Connection): Effect.Effect<void> => {
  const limit = conn.keepAlive * 1500
  const check: Effect.Effect<void> = Effect.suspend(() => {
    // A blackholed connection is left for the client's keep alive to detect.
    if (conn.closing !== undefined || conn.blackholed) return Effect.void
    // CONNACK still held back by a connackDelay: the client's keep alive has not started.
    if (conn.holding) return Effect.sleep(Duration.millis(limit)).pipe(Effect.andThen(check))
    const idle = broker.deps.now() - conn.lastHeard
    if (idle >= limit) {
      broker.close(conn, "KeepAliveTimeout", ReasonCode.V5.KeepAliveTimeout)
      return Effect.void
    }
    return Effect.sleep(Duration.millis(limit - idle)).pipe(Effect.andThen(check))
  })
  return check
}

/** The CONNACK properties of an MQTT 5 client: what differs from the protocol's defaults. */
const connackProperties = (
  broker: Broker,
  extra: {
    readonly assigned: string | undefined
    readonly serverKeepAlive: number | undefined
    readonly responseInformation: string | undefined
  }
): Packet.ConnackProperties | undefined => {
  const caps = broker.config.capabilities
  const props: { -readonly [K in keyof Packet.ConnackProperties]: Packet.ConnackProperties[K] } = {}
  if (extra.assigned !== undefined) props.assignedClientIdentifier = extra.assigned
  if (caps.receiveMaximum < 65535) props.receiveMaximum = caps.receiveMaximum
  if (caps.maximumQoS < 2) props.maximumQoS = caps.maximumQoS as 0 | 1
  if (!caps.retainAvailable) props.retainAvailable = false
  if (broker.config.maxPacketSize < 268435460) props.maximumPacketSize = broker.config.maxPacketSize
  if (caps.topicAliasMaximum > 0) props.topicAliasMaximum = caps.topicAliasMaximum
  if (!caps.wildcardSubscriptionAvailable) props.wildcardSubscriptionAvailable = false
  if (!caps.subscriptionIdentifiersAvailable) props.subscriptionIdentifiersAvailable = false
  if (!caps.sharedSubscriptionAvailable) props.sharedSubscriptionAvailable = false
  if (extra.serverKeepAlive !== undefined) props.serverKeepAlive = extra.serverKeepAlive
  if (extra.responseInformation !== undefined) props.responseInformation = extra.responseInformation
  return Object.keys(props).length === 0 ? undefined : props
}

/** Warnings for MQTT 3 habits that MQTT 5 changed (see the README's "MQTT gotchas"). */
const warnObsoleteIdioms = (broker: Broker, conn: Connection, packet: Packet.Connect): void => {
  if (packet.protocolLevel === 4 && !packet.clean) {
    broker.warn(
      conn,
      "MQTT 3.1.1 persistent session: it never expires on this server; MQTT 5 bounds it with the Session Expiry Interval",
      "MQTT-3.1.2-23"
    )
  }
  if (packet.protocolLevel === 4 && packet.password !== undefined && packet.username === undefined) {
    broker.warn(conn, "password without a user name: MQTT 3.1.1 forbids it, MQTT 5 allows it", "MQTT-3.1.2-22")
  }
  if (packet.protocolLevel === 5 && packet.clientId === "" && (packet.properties?.sessionExpiryInterval ?? 0) > 0) {
    broker.warn(
      conn,
      "empty client id with a session that outlives the connection: only the assigned client identifier can resume it",
      "MQTT-3.2.2-16"
    )
  }
}

export const handleConnect = (broker: Broker, conn: Connection, packet: Packet.Connect): void => {
  if (conn.connectReceived) {
    return broker.violation(conn, "a second CONNECT on the same connection", "MQTT-3.1.0-2")
  }
  conn.connectAt(packet.protocolLevel)
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

  warnObsoleteIdioms(broker, conn, packet)
  // From here on the client id is known, so behaviour rules matched by client id apply.
  conn.identify(clientId)
  const refused = conn.policy.refuseConnect(packet, clientId)
  if (refused !== undefined) {
    broker.report(conn, refused.injected)
    return refuse(broker, conn, refused.reasonCode, refused.reasonCode)
  }
  if (level === 4 && packet.password !== undefined && packet.username === undefined) {
    conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: ReasonCode.V3Connack.BadUserNameOrPassword })
    return broker.violation(conn, "password without a user name", "MQTT-3.1.2-22")
  }
  if (level === 5) {
    const method = packet.properties?.authenticationMethod
    if (method !== undefined && !Auth.supports(broker, method)) {
      broker.warn(conn, `authentication method ${JSON.stringify(method)} is not supported`, "MQTT-4.12.0-1")
      return refuse(broker, conn, 0, ReasonCode.V5.BadAuthenticationMethod)
    }
    const caps = broker.config.capabilities
    if (packet.will !== undefined && packet.will.qos > caps.maximumQoS) {
      broker.warn(
        conn,
        `will QoS ${packet.will.qos} is above the server's maximum QoS ${caps.maximumQoS}`,
        "MQTT-3.2.2-12"
      )
      return refuse(broker, conn, 0, ReasonCode.V5.QoSNotSupported)
    }
    if (packet.will?.retain === true && !caps.retainAvailable) {
      broker.warn(conn, "retained will, but the server does not support retain", "MQTT-3.2.2-13")
      return refuse(broker, conn, 0, ReasonCode.V5.RetainNotSupported)
    }
  }

  // A keep alive over the maximum (or none): MQTT 3 cannot be told another one.
  const maxKeepAlive = conn.policy.behavior.maxKeepAlive
  const overMaximum = maxKeepAlive !== undefined && (packet.keepAlive === 0 || packet.keepAlive > maxKeepAlive)
  if (overMaximum && level !== 5) {
    const refuses = conn.policy.behavior.maxKeepAliveMqtt3 !== "accept"
    broker.warn(
      conn,
      `keep alive ${packet.keepAlive === 0 ? "0 (none)" : `${packet.keepAlive} s`} over the maximum of ${maxKeepAlive} s: ${refuses ? "refused (0x02)" : "accepted with the client's own"}`
    )
    if (refuses) return refuse(broker, conn, ReasonCode.V3Connack.IdentifierRejected, 0)
  }

  const accepted = (auth?: Auth.Accepted) =>
    accept(broker, conn, packet, { clientId, assigned, overMaximum, maxKeepAlive, auth })
  // Enhanced authentication: the exchange first, then the CONNACK (or a refusal).
  const method = level === 5 ? packet.properties?.authenticationMethod : undefined
  if (method !== undefined) {
    return Auth.begin(broker, conn, {
      method,
      data: packet.properties?.authenticationData,
      clientId,
      accepted,
      refused: (reasonCode) => refuse(broker, conn, 0, reasonCode)
    })
  }
  accepted()
}

/** Accepts a client whose CONNECT passed every check (and its authentication exchange): session, CONNACK, keep alive. */
const accept = (
  broker: Broker,
  conn: Connection,
  packet: Packet.Connect,
  checked: {
    readonly clientId: string
    readonly assigned: boolean
    readonly overMaximum: boolean
    readonly maxKeepAlive: number | undefined
    readonly auth: Auth.Accepted | undefined
  }
): void => {
  const { clientId, assigned, overMaximum, maxKeepAlive } = checked
  const level = packet.protocolLevel
  // Another connection with this client id is taken over [MQTT-3.1.4-2].
  broker.own(clientId, conn, ReasonCode.V5.SessionTakenOver)

  const expiry = level === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : packet.clean ? 0 : NEVER_EXPIRES
  // `dropSession`: the stored session is discarded, as a server that lost it would.
  const dropped =
    conn.policy.behavior.dropSession === true && !packet.clean && broker.deps.store.get(clientId) !== undefined
  if (dropped) {
    broker.report(conn, {
      fault: "dropSession",
      detail: `the stored session of ${JSON.stringify(clientId)} is discarded: CONNACK says session present 0`
    })
  }
  const { session, present: sessionPresent } = broker.deps.store.open(clientId, {
    clean: packet.clean || dropped,
    expiryInterval: expiry,
    maxQueued: broker.config.maxQueuedMessages
  })

  const imposed = conn.policy.sessionExpiry()
  const packetIds = conn.policy.packetIds()
  session.impose({ expiryOverride: imposed?.millis, packetIds: packetIds?.allocator })
  if (imposed !== undefined) broker.report(conn, imposed.injected)
  if (packetIds !== undefined) broker.report(conn, packetIds.injected)
  let keepAlive = packet.keepAlive
  let limits = conn.limits
  let properties: Packet.ConnackProperties | undefined
  if (level === 5) {
    const props = packet.properties
    limits = {
      receiveMaximum: props?.receiveMaximum ?? 65535,
      maximumPacketSize: props?.maximumPacketSize,
      topicAliasMaximum: props?.topicAliasMaximum ?? 0,
      requestProblemInformation: props?.requestProblemInformation ?? true
    }
    // An imposed Server Keep Alive wins; else the maximum, for a client over it [MQTT-3.1.2-21].
    const serverKeepAlive = broker.config.capabilities.serverKeepAlive ?? (overMaximum ? maxKeepAlive : undefined)
    if (serverKeepAlive !== undefined) keepAlive = serverKeepAlive
    properties = connackProperties(broker, {
      assigned: assigned ? clientId : undefined,
      serverKeepAlive,
      responseInformation: props?.requestResponseInformation === true ? broker.config.responseInformation : undefined
    })
    // The same Authentication Method, and the exchange's last data, in a successful CONNACK [MQTT-4.12.0-5].
    if (checked.auth !== undefined) properties = { ...properties, ...Auth.connackProperties(checked.auth) }
  }
  conn.accepted({ session, will: packet.will, keepAlive, limits })
  Decisions.holdForConnack(broker, conn)
  // Rules may set another maxTime now that the client id is known.
  Decisions.startMaxTime(broker, conn)
  conn.send({
    _tag: "Connack",
    sessionPresent,
    reasonCode: 0,
    ...(properties !== undefined ? { properties } : {})
  })
  if (conn.keepAlive > 0) conn.io.timer("keepAlive", keepAliveCheck(broker, conn))
  Routing.resumeInflight(conn, session)
  Routing.drainQueue(broker, conn, session)
}
