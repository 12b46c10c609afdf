import { assert, describe, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { connect5, connectClient, text } from "./helpers.js"

const withServer = (config: Parameters<typeof MqttServer.layerTest>[0] = {}) =>
  Effect.provide(MqttServer.layerTest(config))

describe("MQTT 5 CONNECT and CONNACK", () => {
  it.effect("assigns a client identifier to an empty one (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { protocolVersion: 5, clientId: "" })
      assert.isTrue(client.connected)
      const connack = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack"))
      assert.match(connack.packet.properties?.assignedClientIdentifier ?? "", /^mqttest-\d+$/)
      assert.strictEqual(connack.clientId, connack.packet.properties?.assignedClientIdentifier)
    }).pipe(withServer())
  )

  it.effect("announces the capabilities a test selects, and MQTT.js connects under them", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* connectClient(server, { protocolVersion: 5, clientId: "caps" })
      const connack = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack"))
      assert.deepStrictEqual(connack.packet.properties, {
        receiveMaximum: 5,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 4096,
        topicAliasMaximum: 3,
        wildcardSubscriptionAvailable: false,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: false,
        serverKeepAlive: 20
      })
    }).pipe(
      withServer({
        maxPacketSize: 4096,
        capabilities: {
          maximumQoS: 1,
          retainAvailable: false,
          wildcardSubscriptionAvailable: false,
          subscriptionIdentifiersAvailable: false,
          sharedSubscriptionAvailable: false,
          topicAliasMaximum: 3,
          receiveMaximum: 5,
          serverKeepAlive: 20
        }
      })
    )
  )

  it.effect("announces the default topic alias maximum and nothing else by default", () =>
    Effect.gen(function* () {
      const [, connack] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "d" })
      assert.deepStrictEqual(connack, {
        _tag: "Connack",
        sessionPresent: false,
        reasonCode: 0,
        properties: { topicAliasMaximum: 10 }
      })
    }).pipe(withServer())
  )

  it.effect("sends Response Information when the client requests it", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [, asked] = yield* connect5(server, { clientId: "a", properties: { requestResponseInformation: true } })
      assert.strictEqual(asked.properties?.responseInformation, "replies/")
      const [, silent] = yield* connect5(server, { clientId: "b" })
      assert.isUndefined(silent.properties?.responseInformation)
    }).pipe(withServer({ responseInformation: "replies/" }))
  )

  it.effect("refuses an authentication method with 0x8C", () =>
    Effect.gen(function* () {
      const [raw, connack] = yield* connect5(yield* MqttServer.MqttServer, {
        clientId: "auth",
        properties: { authenticationMethod: "SCRAM-SHA-256" }
      })
      assert.strictEqual(connack.reasonCode, 0x8c)
      yield* raw.closed
    }).pipe(withServer())
  )

  it.effect("refuses a will above the maximum QoS (0x9B) and a retained will without retain support (0x9A)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const will = { topic: "w", payload: text("x"), qos: 1 as const, retain: false }
      const [, qos] = yield* connect5(server, { clientId: "q", will })
      assert.strictEqual(qos.reasonCode, 0x9b)
      const [, retain] = yield* connect5(server, { clientId: "r", will: { ...will, qos: 0, retain: true } })
      assert.strictEqual(retain.reasonCode, 0x9a)
    }).pipe(withServer({ capabilities: { maximumQoS: 0, retainAvailable: false } }))
  )

  it.effect("an AUTH packet without an authentication method is a protocol error (DISCONNECT 0x82)", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "a" })
      yield* raw.send({ _tag: "Auth", reasonCode: 0x18 })
      const disconnect = yield* raw.next
      assert.deepStrictEqual([disconnect._tag, (disconnect as { reasonCode: number }).reasonCode], ["Disconnect", 0x82])
      yield* raw.closed
    }).pipe(withServer())
  )

  it.effect("imposes the server keep alive and closes with 0x8D after 1.5 × it", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw, connack] = yield* connect5(server, { clientId: "k", keepAlive: 600 })
      assert.strictEqual(connack.properties?.serverKeepAlive, 4)
      yield* TestClock.adjust("6 seconds")
      assert.deepStrictEqual(yield* raw.next, { _tag: "Disconnect", reasonCode: 0x8d })
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "KeepAliveTimeout")
    }).pipe(withServer({ capabilities: { serverKeepAlive: 4 } }))
  )

  it.effect("a takeover sends the old MQTT 5 connection DISCONNECT 0x8E", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [first] = yield* connect5(server, { clientId: "same" })
      yield* connect5(server, { clientId: "same" })
      assert.deepStrictEqual(yield* first.next, { _tag: "Disconnect", reasonCode: 0x8e })
      yield* first.closed
    }).pipe(withServer())
  )

  it.effect("the disconnect command sends the reason code it is given (MQTT.js sees it)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { protocolVersion: 5, clientId: "kick" })
      const seen = Effect.callback<number | undefined>((resume) => {
        client.once("disconnect", (packet) => resume(Effect.succeed(packet.reasonCode)))
      })
      yield* server.disconnect(0, 0x9c)
      assert.strictEqual(yield* seen, 0x9c)
    }).pipe(withServer())
  )

  it.effect("malformed bytes after CONNECT get DISCONNECT 0x81", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "m" })
      // A PUBLISH whose topic length runs past the packet.
      yield* raw.sendBytes(new Uint8Array([0x30, 0x03, 0x00, 0x0a, 0x61]))
      const disconnect = yield* raw.next
      assert.strictEqual((disconnect as { reasonCode: number }).reasonCode, 0x81)
      assert.include((disconnect as { properties?: { reasonString?: string } }).properties?.reasonString, "topic name")
    }).pipe(withServer())
  )

  it.effect("a packet above the server's maximum packet size gets DISCONNECT 0x95", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "big" })
      yield* raw.send({ _tag: "Publish", topic: "t", payload: new Uint8Array(200), qos: 0, retain: false, dup: false })
      assert.strictEqual(((yield* raw.next) as { reasonCode: number }).reasonCode, 0x95)
      yield* raw.closed
    }).pipe(withServer({ maxPacketSize: 128 }))
  )
})

describe("warnings about MQTT 3 idioms that MQTT 5 changed", () => {
  it.effect("a 3.1.1 persistent session has no bounded lifetime", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* connectClient(server, { clientId: "old", clean: false })
      const warning = yield* server.waitFor(ServerEvent.is("Warning"))
      assert.strictEqual(warning.spec, "MQTT-3.1.2-23")
    }).pipe(withServer())
  )

  it.effect("an MQTT 5 empty client id with a session that outlives the connection", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* connect5(server, { clientId: "", properties: { sessionExpiryInterval: 60 } })
      const warning = yield* server.waitFor(ServerEvent.is("Warning"))
      assert.strictEqual(warning.spec, "MQTT-3.2.2-16")
    }).pipe(withServer())
  )
})
