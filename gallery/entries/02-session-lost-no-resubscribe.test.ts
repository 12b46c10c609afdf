/**
 * MQTT.js ≤ 5.0.0 → 5.0.1: a lost session is not re-established.
 *
 * Symptom: an MQTT 3.1.1 client with `clean: false` subscribes, loses its connection, reconnects,
 * and the server answers session present 0 (it lost the session, e.g. after a restart). The
 * client trusts its `clean: false` and does not subscribe again: from then on it silently gets
 * nothing. 5.0.1 resubscribes whenever the session is not present.
 * https://github.com/mqttjs/MQTT.js/issues/895 and #1288, fixed by
 * https://github.com/mqttjs/MQTT.js/pull/1650
 *
 * Recipe: `dropSession: [null, true]` — the second connection finds its stored session discarded
 * (CONNACK session present 0) — and `server.disconnect` to make the client reconnect.
 */
import { ServerEvent, start } from "@mqttest/server"
import { assert, describe, test } from "vitest"
import { type Client, connected, ended, release } from "../helpers.js"

const isConnect = ServerEvent.isPacket("PacketReceived", "Connect", { clientId: "meter" })

/** What the client does on its second connection, up to a publish of its own. */
const reconnect = async (alias: string) => {
  await using server = await start({ ports: 0, dropSession: [null, true] })
  const client: Client = await connected(await release(alias), server, {
    clientId: "meter",
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 50
  })
  try {
    await new Promise<void>((resolve) => client.subscribe("tariff/#", { qos: 1 }, () => resolve()))
    const first = await server.waitFor(isConnect)
    const after = await server.mark()
    const again = new Promise<void>((resolve) => client.once("connect", () => resolve()))
    await server.disconnect(first.connection)
    await again
    const second = await server.waitFor(isConnect, { after, timeout: 5000 })
    // A round trip of the client's own, after anything it sends when it connects.
    await new Promise<void>((resolve) => client.publish("meter/reading", "42", { qos: 1 }, () => resolve()))
    await server.stop()
    const events = (await server.finished).events.filter((e) => "connection" in e && e.connection === second.connection)
    const connack = events.find(ServerEvent.isPacket("PacketSent", "Connack"))!
    return {
      sessionPresent: connack.packet.sessionPresent,
      dropped: events.some(ServerEvent.is("FaultInjected", (e) => e.fault === "dropSession")),
      resubscribed: events
        .filter(ServerEvent.isPacket("PacketReceived", "Subscribe"))
        .flatMap((e) => e.packet.subscriptions.map((s) => `${s.topicFilter} q${s.qos}`))
    }
  } finally {
    await ended(client)
  }
}

describe("MQTT.js 5.0.0 → 5.0.1: a lost session is not re-established", () => {
  test("5.0.0 (buggy): session present 0, and no SUBSCRIBE", async () => {
    const { sessionPresent, dropped, resubscribed } = await reconnect("mqtt-5-0-0")
    assert.isFalse(sessionPresent)
    assert.isTrue(dropped)
    assert.deepStrictEqual(resubscribed, [])
  })

  test("5.0.1 (fixed): session present 0, and the subscription made again", async () => {
    const { sessionPresent, dropped, resubscribed } = await reconnect("mqtt-5-0-1")
    assert.isFalse(sessionPresent)
    assert.isTrue(dropped)
    assert.deepStrictEqual(resubscribed, ["tariff/# q1"])
  })
})
