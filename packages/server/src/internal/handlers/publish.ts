/**
 * PUBLISH from a client and the acknowledgements of both QoS flows:
 * PUBACK, PUBREC, PUBREL, PUBCOMP.
 */
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import { Message, Topic } from "@mqttest/session"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"
import * as Decisions from "../decisions.js"
import * as Routing from "../routing.js"

/** Resolves an MQTT 5 topic alias [MQTT-3.3.2-8] … [MQTT-3.3.2-12]; undefined after a violation. */
const resolveTopic = (broker: Broker, conn: Connection, packet: Packet.Publish): string | undefined => {
  const alias = packet.properties?.topicAlias
  if (alias === undefined) return packet.topic
  if (alias > broker.config.capabilities.topicAliasMaximum) {
    broker.violation(
      conn,
      `topic alias ${alias} is above the server's Topic Alias Maximum ${broker.config.capabilities.topicAliasMaximum}`,
      "MQTT-3.3.2-9",
      ReasonCode.V5.TopicAliasInvalid
    )
    return undefined
  }
  if (packet.topic !== "") {
    conn.setAliasIn(alias, packet.topic)
    return packet.topic
  }
  const topic = conn.aliasIn(alias)
  if (topic === undefined) {
    broker.violation(
      conn,
      `topic alias ${alias} was never set on this connection`,
      "MQTT-3.3.2-12",
      ReasonCode.V5.ProtocolError
    )
  }
  return topic
}

/** MQTT 5 limits of an inbound PUBLISH; true when the packet may be processed. */
const withinLimits = (broker: Broker, conn: Connection, packet: Packet.Publish): boolean => {
  const caps = broker.config.capabilities
  if (packet.qos > caps.maximumQoS) {
    broker.violation(
      conn,
      `QoS ${packet.qos} is above the server's maximum QoS ${caps.maximumQoS}`,
      "MQTT-3.2.2-11",
      ReasonCode.V5.QoSNotSupported
    )
    return false
  }
  if (packet.retain && !caps.retainAvailable) {
    broker.violation(
      conn,
      "retained PUBLISH, but the server does not support retain",
      "MQTT-3.2.2-14",
      ReasonCode.V5.RetainNotSupported
    )
    return false
  }
  if (packet.properties?.subscriptionIdentifiers !== undefined) {
    broker.violation(conn, "a PUBLISH from a client carries a subscription identifier", "MQTT-3.3.4-6")
    return false
  }
  const session = conn.session!
  if (
    packet.qos === 2 &&
    !session.inboundQoS2.has(packet.packetId!) &&
    session.inboundQoS2.size >= caps.receiveMaximum
  ) {
    broker.violation(
      conn,
      `more than Receive Maximum ${caps.receiveMaximum} QoS 2 publishes unacknowledged`,
      "MQTT-3.3.4-7",
      ReasonCode.V5.ReceiveMaximumExceeded
    )
    return false
  }
  return true
}

export const handlePublish = (broker: Broker, conn: Connection, packet: Packet.Publish): void => {
  const session = conn.session!
  const v5 = conn.level === 5
  const topic = v5 ? resolveTopic(broker, conn, packet) : packet.topic
  if (topic === undefined) return
  const problem = Topic.validateName(topic)
  if (problem !== undefined) {
    return broker.violation(conn, `PUBLISH: ${problem.problem}`, problem.spec, ReasonCode.V5.TopicNameInvalid)
  }
  if (v5 && !withinLimits(broker, conn, packet)) return
  const packetId = packet.packetId!
  if (packet.qos > 0) {
    if (conn.seenPublishId(packetId) && v5 && packet.dup) {
      broker.warn(
        conn,
        `PUBLISH ${packetId} resent on a live MQTT 5 connection: MQTT 5 resends only after reconnecting`,
        "MQTT-4.4.0-1"
      )
    }
  }
  const message: Message.Message = {
    topic,
    payload: packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    properties: Message.forwardedProperties(packet.properties),
    publisher: conn.clientId,
    receivedAt: broker.deps.now()
  }
  // A refused publish is not routed: MQTT 5 says so in its acknowledgement, MQTT 3 drops it silently.
  const refused = Decisions.refusal(broker, conn, "refusePublish", topic)
  const route = () => (refused === undefined ? Routing.publish(broker, message) : 1)
  // MQTT 5 acknowledgements say when nobody was subscribed, or why the publish was refused.
  const ackCode = (delivered: number) =>
    v5 && refused !== undefined
      ? { reasonCode: refused }
      : v5 && delivered === 0
        ? { reasonCode: ReasonCode.V5.NoMatchingSubscribers }
        : {}
  switch (packet.qos) {
    case 0:
      route()
      return
    case 1:
      Decisions.sendAck(broker, conn, { _tag: "Puback", packetId, ...ackCode(route()) })
      return
    case 2: {
      // A PUBLISH whose id is still unreleased is a redelivery: acknowledge it, do not route it again.
      let delivered = 1
      if (!session.inboundQoS2.has(packetId)) {
        // An MQTT 5 refusal ends the flow at PUBREC: no PUBREL follows.
        if (!(v5 && refused !== undefined)) session.awaitRelease(packetId)
        delivered = route()
      }
      Decisions.sendAck(broker, conn, { _tag: "Pubrec", packetId, ...ackCode(delivered) })
      return
    }
  }
}

export const handlePubrel = (broker: Broker, conn: Connection, packet: Packet.Pubrel): void => {
  const known = conn.session!.release(packet.packetId)
  if (!known) broker.warn(conn, `PUBREL for packet id ${packet.packetId}, which is not awaiting release`)
  Decisions.sendAck(broker, conn, {
    _tag: "Pubcomp",
    packetId: packet.packetId,
    ...(!known && conn.level === 5 ? { reasonCode: ReasonCode.V5.PacketIdentifierNotFound } : {})
  })
}

export const handlePuback = (broker: Broker, conn: Connection, packet: Packet.Puback): void => {
  const session = conn.session!
  if (session.outbound.get(packet.packetId)?.state !== "puback") {
    return broker.warn(conn, `PUBACK for packet id ${packet.packetId}, which is not awaiting one`)
  }
  Routing.completeOutbound(broker, conn, session, packet.packetId)
}

export const handlePubrec = (broker: Broker, conn: Connection, packet: Packet.Pubrec): void => {
  const session = conn.session!
  const entry = session.outbound.get(packet.packetId)
  if (entry === undefined || entry.state === "puback") {
    broker.warn(conn, `PUBREC for packet id ${packet.packetId}, which is not awaiting one`)
    conn.send({
      _tag: "Pubrel",
      packetId: packet.packetId,
      ...(conn.level === 5 ? { reasonCode: ReasonCode.V5.PacketIdentifierNotFound } : {})
    })
    return
  }
  // MQTT 5: a failure reason code ends the flow here.
  if ((packet.reasonCode ?? 0) >= 0x80) return Routing.completeOutbound(broker, conn, session, packet.packetId)
  session.received(packet.packetId)
  conn.send({ _tag: "Pubrel", packetId: packet.packetId })
  Routing.armResend(conn, session, packet.packetId)
}

export const handlePubcomp = (broker: Broker, conn: Connection, packet: Packet.Pubcomp): void => {
  const session = conn.session!
  if (session.outbound.get(packet.packetId)?.state !== "pubcomp") {
    return broker.warn(conn, `PUBCOMP for packet id ${packet.packetId}, which is not awaiting one`)
  }
  Routing.completeOutbound(broker, conn, session, packet.packetId)
}
