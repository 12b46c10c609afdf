/**
 * `maxKeepAlive`: the longest keep alive a client may have. MQTT 5 clients
 * over it (or asking for none) are told the maximum in CONNACK and held to
 * it; MQTT 3 clients over it are refused (0x02) or accepted as they asked.
 */
import { assert, describe, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import mqtt from "mqtt"
import { connect5, connectPacket, rawClient } from "./helpers.js"

const withServer = (config: Parameters<typeof MqttServer.layerTest>[0] = {}) =>
  Effect.provide(MqttServer.layerTest(config))

/** A raw MQTT 3.1.1 (or 3.1) client's CONNACK for a CONNECT with this keep alive. */
const connack3 = (server: MqttServer.MqttServer["Service"], keepAlive: number, protocolLevel: 3 | 4 = 4) =>
  Effect.gen(function* () {
    const raw = yield* rawClient(server, protocolLevel)
    yield* raw.send(connectPacket({ protocolLevel, clientId: `k${keepAlive}`, keepAlive }))
    const connack = yield* raw.next
    assert.strictEqual(connack._tag, "Connack")
    return [raw, connack as Extract<typeof connack, { _tag: "Connack" }>] as const
  })

describe("maxKeepAlive", () => {
  it.effect("MQTT 5: more than the maximum, or 0, gets it as Server Keep Alive; less keeps its own", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [, over] = yield* connect5(server, { clientId: "over", keepAlive: 600 })
      assert.strictEqual(over.properties?.serverKeepAlive, 30)
      const [, none] = yield* connect5(server, { clientId: "none", keepAlive: 0 })
      assert.strictEqual(none.properties?.serverKeepAlive, 30)
      const [, under] = yield* connect5(server, { clientId: "under", keepAlive: 10 })
      assert.strictEqual(under.properties?.serverKeepAlive, undefined)
      const [, equal] = yield* connect5(server, { clientId: "equal", keepAlive: 30 })
      assert.strictEqual(equal.properties?.serverKeepAlive, undefined)
    }).pipe(withServer({ maxKeepAlive: 30 }))
  )

  it.effect("MQTT 5: the server holds the client to the maximum (closed with 0x8D after 1.5 × it)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw, connack] = yield* connect5(server, { clientId: "k", keepAlive: 0 })
      assert.strictEqual(connack.properties?.serverKeepAlive, 4)
      yield* TestClock.adjust("5900 millis")
      yield* raw.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* raw.next)._tag, "Pingresp")
      yield* TestClock.adjust("6 seconds")
      assert.deepStrictEqual(yield* raw.next, { _tag: "Disconnect", reasonCode: 0x8d })
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "KeepAliveTimeout")
    }).pipe(withServer({ maxKeepAlive: 4 }))
  )

  it.effect("MQTT 5: one under the maximum is held to its own keep alive", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "k", keepAlive: 2 })
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(yield* raw.next, { _tag: "Disconnect", reasonCode: 0x8d })
    }).pipe(withServer({ maxKeepAlive: 60 }))
  )

  it.effect("an imposed capabilities.serverKeepAlive wins over the maximum", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [, under] = yield* connect5(server, { clientId: "under", keepAlive: 5 })
      assert.strictEqual(under.properties?.serverKeepAlive, 20)
    }).pipe(withServer({ maxKeepAlive: 30, capabilities: { serverKeepAlive: 20 } }))
  )

  it.effect("MQTT 3.1.1 and 3.1: more than the maximum, or 0, is refused with 0x02 and a Warning", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      for (const [keepAlive, level] of [
        [31, 4],
        [0, 4],
        [65535, 3]
      ] as const) {
        const mark = yield* server.mark
        const [raw, connack] = yield* connack3(server, keepAlive, level)
        assert.strictEqual(connack.reasonCode, 0x02, `keep alive ${keepAlive}`)
        yield* raw.closed
        const warning = yield* server.waitFor(ServerEvent.is("Warning"), { after: mark })
        assert.include(warning.message, "over the maximum of 30 s: refused (0x02)")
        const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"), { after: mark })
        assert.strictEqual(closed.reason, "ConnectRefused")
      }
      const [, accepted] = yield* connack3(server, 30)
      assert.strictEqual(accepted.reasonCode, 0)
    }).pipe(withServer({ maxKeepAlive: 30 }))
  )

  it.effect('MQTT 3.1.1 with maxKeepAliveMqtt3 "accept": accepted, held to its own keep alive, with a Warning', () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw, connack] = yield* connack3(server, 100)
      assert.strictEqual(connack.reasonCode, 0)
      const warning = yield* server.waitFor(ServerEvent.is("Warning"))
      assert.include(warning.message, "keep alive 100 s over the maximum of 10 s: accepted with the client's own")
      // Its own 100 s, not the maximum: still open after 1.5 × 10 s.
      yield* TestClock.adjust("20 seconds")
      yield* raw.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* raw.next)._tag, "Pingresp")
      yield* TestClock.adjust("151 seconds")
      yield* raw.closed
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "KeepAliveTimeout")
    }).pipe(withServer({ maxKeepAlive: 10, maxKeepAliveMqtt3: "accept" }))
  )

  it.effect("at runtime (configure) and per client id (rules)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [, before] = yield* connect5(server, { clientId: "a", keepAlive: 600 })
      assert.strictEqual(before.properties?.serverKeepAlive, undefined)
      yield* server.configure({ maxKeepAlive: 45, rules: [{ clientId: "tight", maxKeepAlive: 5 }] })
      const [, after] = yield* connect5(server, { clientId: "b", keepAlive: 600 })
      assert.strictEqual(after.properties?.serverKeepAlive, 45)
      const [, tight] = yield* connect5(server, { clientId: "tight", keepAlive: 600 })
      assert.strictEqual(tight.properties?.serverKeepAlive, 5)
      yield* server.reset
      const [, reset] = yield* connect5(server, { clientId: "c", keepAlive: 600 })
      assert.strictEqual(reset.properties?.serverKeepAlive, undefined)
    }).pipe(withServer())
  )

  it.live("a real MQTT 5 client (MQTT.js) is told the maximum", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* Effect.acquireRelease(
        Effect.promise(() =>
          mqtt.connectAsync(server.url, { protocolVersion: 5, clientId: "js", keepalive: 300, reconnectPeriod: 0 })
        ),
        (client) => Effect.promise(() => client.endAsync())
      )
      assert.isTrue(client.connected)
      const connack = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack", { clientId: "js" }))
      assert.strictEqual(connack.packet.properties?.serverKeepAlive, 20)
    }).pipe(withServer({ maxKeepAlive: 20 }))
  )
})
