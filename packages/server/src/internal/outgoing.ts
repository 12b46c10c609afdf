/**
 * What happens to a packet between the outbox and the encoder: MQTT 5 rules
 * that depend on what the client announced in CONNECT.
 */
import type { Packet } from "@mqttest/codec"
import type { Connection } from "./connection.js"

/**
 * Assigns a topic alias to a PUBLISH towards a client that accepts them: the
 * first PUBLISH of a topic carries topic and alias, later ones the alias only.
 */
const alias = (conn: Connection, packet: Packet.Publish): Packet.Publish => {
  const alias = conn.aliasOut(packet.topic)
  if (alias === undefined) return packet
  if (alias.known) return { ...packet, topic: "", properties: { ...packet.properties, topicAlias: alias.alias } }
  return { ...packet, properties: { ...packet.properties, topicAlias: alias.alias } }
}

/**
 * Without Request Problem Information the server sends reason strings and user
 * properties only on PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29].
 */
const withoutProblemInformation = (packet: Packet.Packet): Packet.Packet => {
  switch (packet._tag) {
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
    case "Suback":
    case "Unsuback":
    case "Auth": {
      if (packet.properties === undefined) return packet
      const { reasonString: _reason, userProperties: _user, ...rest } = packet.properties
      const { properties: _properties, ...withoutProperties } = packet
      return (Object.keys(rest).length === 0 ? withoutProperties : { ...packet, properties: rest }) as Packet.Packet
    }
    default:
      return packet
  }
}

/** The packet as it goes on the wire to this connection. */
export const prepare = (conn: Connection, packet: Packet.Packet, assignTopicAliases: boolean): Packet.Packet => {
  if (conn.level !== 5) return packet
  let out = packet
  if (out._tag === "Publish" && assignTopicAliases && conn.limits.topicAliasMaximum > 0) out = alias(conn, out)
  if (!conn.limits.requestProblemInformation) out = withoutProblemInformation(out)
  return out
}
