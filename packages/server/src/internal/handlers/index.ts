/**
 * The dispatcher: one handler per packet type, and the rules about which
 * packet may come when.
 */
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"
import * as Auth from "./auth.js"
import { handleConnect } from "./connect.js"
import { handlePuback, handlePubcomp, handlePublish, handlePubrec, handlePubrel } from "./publish.js"
import { handleSubscribe, handleUnsubscribe } from "./subscribe.js"

const handleDisconnect = (broker: Broker, conn: Connection, packet: Packet.Disconnect): void => {
  const session = conn.session!
  if (conn.level === 5) {
    const expiry = packet.properties?.sessionExpiryInterval
    if (expiry !== undefined) {
      // A session that ends with its connection cannot be extended at DISCONNECT [MQTT-3.14.2-2].
      if (session.expiryInterval === 0 && expiry !== 0) {
        return broker.violation(conn, "DISCONNECT sets a session expiry after CONNECT set 0", "MQTT-3.14.2-2")
      }
      // A test's session expiry override wins over what the client asks for.
      if (session.expiryOverride === undefined) session.expireAfter(expiry)
    }
    // Reason 0x04: the client asks for its will to be published.
    if (packet.reasonCode === ReasonCode.V5.DisconnectWithWillMessage) broker.publishWill(conn)
  }
  // A normal DISCONNECT discards the will [MQTT-3.14.4-3]: a connection closed so publishes none.
  broker.close(conn, "ClientDisconnect")
}

/** Handles one packet from a client. */
export const dispatch = (broker: Broker, conn: Connection, packet: Packet.Packet): void => {
  if (conn.closing !== undefined) return
  if (!conn.connectReceived && packet._tag !== "Connect") {
    return broker.violation(conn, `the first packet must be CONNECT, got ${packet._tag.toUpperCase()}`, "MQTT-3.1.0-1")
  }
  // During the authentication exchange of a CONNECT only AUTH and DISCONNECT may come [MQTT-3.1.2-30].
  if (!conn.connected && Auth.beforeConnack(conn)) {
    if (packet._tag === "Disconnect") return broker.close(conn, "ClientDisconnect")
    if (packet._tag !== "Auth" && packet._tag !== "Connect") {
      return Auth.protocolError(
        broker,
        conn,
        `${packet._tag.toUpperCase()} during the authentication exchange, before CONNACK: only AUTH or DISCONNECT may come`,
        "MQTT-3.1.2-30"
      )
    }
  }
  switch (packet._tag) {
    case "Connect":
      return handleConnect(broker, conn, packet)
    case "Publish":
      return handlePublish(broker, conn, packet)
    case "Puback":
      return handlePuback(broker, conn, packet)
    case "Pubrec":
      return handlePubrec(broker, conn, packet)
    case "Pubrel":
      return handlePubrel(broker, conn, packet)
    case "Pubcomp":
      return handlePubcomp(broker, conn, packet)
    case "Subscribe":
      return handleSubscribe(broker, conn, packet)
    case "Unsubscribe":
      return handleUnsubscribe(broker, conn, packet)
    case "Pingreq":
      return conn.send({ _tag: "Pingresp" })
    case "Disconnect":
      return handleDisconnect(broker, conn, packet)
    case "Auth":
      return Auth.handleAuth(broker, conn, packet)
    case "Connack":
    case "Suback":
    case "Unsuback":
    case "Pingresp":
      return broker.violation(conn, `${packet._tag.toUpperCase()} is sent by servers only`, undefined)
  }
}
