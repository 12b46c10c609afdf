/**
 * PUBLISH from a client and the acknowledgements of both QoS flows:
 * PUBACK, PUBREC, PUBREL, PUBCOMP.
 */
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import { Message, Topic } from "@mqttest/session"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"

export const handlePublish = (broker: Broker, conn: Connection, packet: Packet.Publish): void => {
  const session = conn.session!
  if (packet.properties?.topicAlias !== undefined) {
    // CONNACK announced no topic aliases (Topic Alias Maximum 0) [MQTT-3.3.2-9].
    return broker.violation(
      conn,
      "topic alias used, but the server allows none",
      "MQTT-3.3.2-9",
      ReasonCode.V5.TopicAliasInvalid
    )
  }
  const problem = Topic.validateName(packet.topic)
  if (problem !== undefined) {
    return broker.violation(conn, `PUBLISH: ${problem.problem}`, problem.spec, ReasonCode.V5.TopicNameInvalid)
  }
  const message: Message.Message = {
    topic: packet.topic,
    payload: packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    properties: Message.forwardedProperties(packet.properties),
    publisher: conn.clientId,
    receivedAt: broker.deps.now()
  }
  const packetId = packet.packetId!
  switch (packet.qos) {
    case 0:
      broker.publish(message)
      return
    case 1:
      broker.publish(message)
      conn.send({ _tag: "Puback", packetId })
      return
    case 2:
      // A PUBLISH whose id is still unreleased is a redelivery: acknowledge it, do not route it again.
      if (!session.inboundQoS2.has(packetId)) {
        session.inboundQoS2.add(packetId)
        broker.publish(message)
      }
      conn.send({ _tag: "Pubrec", packetId })
      return
  }
}

export const handlePubrel = (broker: Broker, conn: Connection, packet: Packet.Pubrel): void => {
  const known = conn.session!.inboundQoS2.delete(packet.packetId)
  if (!known) broker.warn(conn, `PUBREL for packet id ${packet.packetId}, which is not awaiting release`)
  conn.send({
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
  broker.completeOutbound(conn, session, packet.packetId)
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
  if ((packet.reasonCode ?? 0) >= 0x80) return broker.completeOutbound(conn, session, packet.packetId)
  entry.state = "pubcomp"
  conn.send({ _tag: "Pubrel", packetId: packet.packetId })
  broker.armResend(conn, session, packet.packetId)
}

export const handlePubcomp = (broker: Broker, conn: Connection, packet: Packet.Pubcomp): void => {
  const session = conn.session!
  if (session.outbound.get(packet.packetId)?.state !== "pubcomp") {
    return broker.warn(conn, `PUBCOMP for packet id ${packet.packetId}, which is not awaiting one`)
  }
  broker.completeOutbound(conn, session, packet.packetId)
}
