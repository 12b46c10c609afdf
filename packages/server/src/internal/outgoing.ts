/**
 * What happens to a packet between the outbox and the encoder: MQTT 5 rules
 * that depend on what the client announced in CONNECT.
 */
import type { Packet } from "@mqttest/codec"
import type { Connection } from "./connection.js"

/** Whether the connection's behaviour ignores one of the limits its client announced. */
export const breaks = (
  conn: Connection,
  limit: "topicAliasMaximum" | "maximumPacketSize" | "receiveMaximum"
): boolean => conn.policy.behavior.breakClientLimits?.includes(limit) === true

/** Reports a fault on the connection (the broker's `report`). */
export type Report = (injected: { readonly fault: string; readonly detail: string }) => void

/**
 * Assigns a topic alias to a PUBLISH towards a client that accepts them: the
 * first PUBLISH of a topic carries topic and alias, later ones the alias only.
 * With `breakClientLimits: ["topicAliasMaximum"]`, aliases go beyond the
 * client's maximum (to 65535), each one over it reported.
 */
const alias = (conn: Connection, packet: Packet.Publish, report: Report): Packet.Publish => {
  const broken = breaks(conn, "topicAliasMaximum")
  const alias = conn.aliasOut(packet.topic, broken ? 65535 : conn.limits.topicAliasMaximum)
  if (alias === undefined) return packet
  if (alias.alias > conn.limits.topicAliasMaximum && !alias.known) {
    report({
      fault: "breakClientLimits.topicAliasMaximum",
      detail: `topic alias ${alias.alias} for ${JSON.stringify(packet.topic)}; the client's Topic Alias Maximum is ${conn.limits.topicAliasMaximum}`
    })
  }
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
export const prepare = (
  conn: Connection,
  packet: Packet.Packet,
  assignTopicAliases: boolean,
  report: Report
): Packet.Packet => {
  if (conn.level !== 5) return packet
  let out = packet
  if (
    out._tag === "Publish" &&
    ((assignTopicAliases && conn.limits.topicAliasMaximum > 0) || breaks(conn, "topicAliasMaximum"))
  ) {
    out = alias(conn, out, report)
  }
  if (!conn.limits.requestProblemInformation) out = withoutProblemInformation(out)
  return out
}
