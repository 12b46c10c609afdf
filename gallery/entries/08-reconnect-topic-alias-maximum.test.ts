/**
 * MQTT.js 4.2.8 → 4.3.0: a reconnect advertises a Topic Alias Maximum nobody set.
 *
 * Symptom: an MQTT 5 client connects without a Topic Alias Maximum; the server's CONNACK offers
 * its own (10); the connection drops and the client reconnects — and its new CONNECT carries a
 * Topic Alias Maximum the application never asked for (the server's value, taken into the
 * client's options), so the server may now send aliases the client does not expect.
 * https://github.com/mqttjs/MQTT.js/issues/1183 and #1213, fixed by
 * https://github.com/mqttjs/MQTT.js/pull/1301
 *
 * Recipe: `capabilities: { topicAliasMaximum: 10 }`, then `server.disconnect(connection)`; read
 * the second CONNECT's properties from the server's `PacketReceived` event.
 */
import { ServerEvent, start } from "@mqttest/server"
import { assert, describe, test } from "vitest"
import { connected, ended, release } from "../helpers.js"

/** The properties of the client's CONNECT after the server dropped its first connection. */
const reconnectProperties = async (alias: string) => {
  await using server = await start({ ports: 0, capabilities: { topicAliasMaximum: 10 } })
  const isConnect = ServerEvent.isPacket("PacketReceived", "Connect", { clientId: "app" })
  const client = await connected(await release(alias), server, {
    clientId: "app",
    protocolVersion: 5,
    reconnectPeriod: 50
  })
  try {
    const first = await server.waitFor(isConnect)
    assert.isUndefined(first.packet.properties?.topicAliasMaximum)
    const after = await server.mark()
    await server.disconnect(first.connection)
    const second = await server.waitFor(isConnect, { after, timeout: 5000 })
    return second.packet.properties ?? {}
  } finally {
    await ended(client)
  }
}

describe("MQTT.js 4.2.8 → 4.3.0: a reconnect advertises a Topic Alias Maximum nobody set", () => {
  test("4.2.8 (buggy): the second CONNECT says Topic Alias Maximum 10, the server's value", async () => {
    const properties = await reconnectProperties("mqtt-4-2-8")
    assert.strictEqual(properties.topicAliasMaximum, 10)
  })

  test("4.3.0 (fixed): the second CONNECT says none, as the first", async () => {
    const properties = await reconnectProperties("mqtt-4-3-0")
    assert.isUndefined(properties.topicAliasMaximum)
  })
})
