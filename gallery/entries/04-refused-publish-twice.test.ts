/**
 * MQTT.js 4.3.8 → 5.0.0: a refused QoS 1 publish calls back twice.
 *
 * Symptom: the server answers a QoS 1 PUBLISH with PUBACK 0x87 (not authorized, MQTT 5); the
 * publish callback runs twice, first with the error, then again without one — code that counts
 * deliveries counts the refused message as delivered.
 * https://github.com/mqttjs/MQTT.js/issues/1511, fixed by https://github.com/mqttjs/MQTT.js/pull/1635
 *
 * Recipe: `refusePublish: { topics: ["locked/#"] }` (PUBACK 0x87), then publish to locked/door
 * at QoS 1; the server's `PacketSent` event of that PUBACK is the moment to count the calls.
 */
import { ServerEvent, start } from "@mqttest/server"
import { assert, describe, test } from "vitest"
import { connected, ended, release } from "../helpers.js"

/** Every call of the publish callback, until the client's next round trip after the PUBACK. */
const callbacks = async (alias: string) => {
  await using server = await start({ ports: 0, refusePublish: { topics: ["locked/#"] } })
  const client = await connected(await release(alias), server, { protocolVersion: 5 })
  try {
    const calls: Array<string> = []
    const refused = server.waitFor(ServerEvent.isPacket("PacketSent", "Puback"), { timeout: 5000 })
    client.publish("locked/door", "open", { qos: 1 }, (error) =>
      calls.push(error ? `error: ${error.message}` : "success")
    )
    const puback = await refused
    assert.strictEqual(puback.packet.reasonCode, 0x87)
    // The client has handled the PUBACK once it has answered a later packet (a SUBACK) in order.
    await new Promise<void>((resolve) => client.subscribe("after", { qos: 0 }, () => resolve()))
    return calls
  } finally {
    await ended(client)
  }
}

describe("MQTT.js 4.3.8 → 5.0.0: a refused QoS 1 publish calls back twice", () => {
  test("4.3.8 (buggy): the error, then a success", async () => {
    const calls = await callbacks("mqtt-4-3-8")
    assert.strictEqual(calls.length, 2)
    assert.match(calls[0]!, /^error: .*Not authorized/)
    assert.strictEqual(calls[1], "success")
  })

  test("5.0.0 (fixed): the error, once", async () => {
    const calls = await callbacks("mqtt-5-0-0")
    assert.strictEqual(calls.length, 1)
    assert.match(calls[0]!, /^error: .*Not authorized/)
  })
})
