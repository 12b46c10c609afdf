import { assert, describe, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Queue } from "effect"
import { call, connectClient, connectPacket, messages, rawClient, text } from "./helpers.js"

const withServer = Effect.provide(MqttServer.layerTest())

describe("CONNECT and client ids", () => {
  it.effect("gives a client with an empty id and a clean session a generated id", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* connectClient(server, { clientId: "", clean: true })
      const connack = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack"))
      assert.strictEqual(connack.packet.reasonCode, 0)
      assert.match(connack.clientId!, /^mqttest-\d+$/)
    }).pipe(withServer)
  )

  it.effect("refuses an empty id with a persistent session [MQTT-3.1.3-8]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "", clean: false }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: false, reasonCode: 2 })
      yield* raw.closed
      const warning = yield* server.waitFor(ServerEvent.is("Warning"))
      assert.strictEqual(warning.spec, "MQTT-3.1.3-8")
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "ConnectRefused")
    }).pipe(withServer)
  )

  it.effect("refuses an empty id under MQTT 3.1", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 3)
      yield* raw.send(connectPacket({ protocolLevel: 3, clientId: "" }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: false, reasonCode: 2 })
    }).pipe(withServer)
  )

  it.effect("accepts a long or unusual client id with a warning [MQTT-3.1.3-5]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const id = "a-client-id-longer-than-23-characters/ü"
      const client = yield* connectClient(server, { clientId: id })
      assert.isTrue(client.connected)
      const warning = yield* server.waitFor(ServerEvent.is("Warning"))
      assert.strictEqual(warning.spec, "MQTT-3.1.3-5")
      assert.include(warning.message, JSON.stringify(id))
    }).pipe(withServer)
  )

  it.effect("refuses a long client id in strict mode", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "x".repeat(24) }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: false, reasonCode: 2 })
      yield* raw.closed
    }).pipe(Effect.provide(MqttServer.layerTest({ strict: true })))
  )

  it.effect("refuses an empty client id in strict mode", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "" }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: false, reasonCode: 2 })
    }).pipe(Effect.provide(MqttServer.layerTest({ strict: true })))
  )

  it.effect("refuses a 3.1.1 password without a user name [MQTT-3.1.2-22]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "pw", password: text("secret") }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: false, reasonCode: 4 })
      yield* raw.closed
      const violation = yield* server.waitFor(ServerEvent.is("ProtocolViolation"))
      assert.strictEqual(violation.spec, "MQTT-3.1.2-22")
      // The warning tells that MQTT 5 would have allowed it.
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.spec === "MQTT-3.1.2-22"))
      assert.include(warning.message, "MQTT 5 allows it")
    }).pipe(withServer)
  )

  it.effect("answers an unsupported protocol level with CONNACK 0x01 [MQTT-3.1.2-2]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      // CONNECT "MQTT" level 6.
      yield* raw.sendBytes(new Uint8Array([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 2, 0, 60, 0, 1, 0x61]))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: false, reasonCode: 1 })
      yield* raw.closed
      const violation = yield* server.waitFor(ServerEvent.is("ProtocolViolation"))
      assert.strictEqual(violation.spec, "MQTT-3.1.2-2")
    }).pipe(withServer)
  )

  it.effect("speaks MQTT 3.1 (MQIsdp) with MQTT.js", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "old", protocolId: "MQIsdp", protocolVersion: 3 })
      yield* call((cb) => client.subscribe("v3", { qos: 1 }, cb))
      yield* call((cb) => client.publish("v3", "hi", { qos: 1 }, cb))
      assert.strictEqual((yield* Queue.take(yield* messages(client))).payload, "hi")
      const connect = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Connect"))
      assert.strictEqual(connect.packet.protocolLevel, 3)
    }).pipe(withServer)
  )

  it.effect("answers PINGREQ with PINGRESP", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket())
      yield* raw.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* raw.next)._tag, "Connack")
      assert.deepStrictEqual(yield* raw.next, { _tag: "Pingresp" })
    }).pipe(withServer)
  )
})
