import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Queue } from "effect"
import { TestClock } from "effect/testing"
import { call, collect, connect5, connectClient, messages, subscribeRaw, text } from "./helpers.js"

const withServer = (config: Parameters<typeof MqttServer.layerTest>[0] = {}) =>
  Effect.provide(MqttServer.layerTest(config))

const publish = (topic: string, payload: string, rest: Partial<Packet.Publish> = {}): Packet.Publish => ({
  _tag: "Publish",
  topic,
  payload: text(payload),
  qos: 0,
  retain: false,
  dup: false,
  ...rest
})

const reasonCodeOf = (packet: Packet.Packet) => (packet as { reasonCode?: number }).reasonCode

describe("MQTT 5 PUBLISH", () => {
  it.effect("passes every application property through to subscribers unchanged (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const sub = yield* connectClient(server, { protocolVersion: 5, clientId: "sub" })
      yield* call((cb) => sub.subscribe("props", { qos: 1 }, cb))
      const pub = yield* connectClient(server, { protocolVersion: 5, clientId: "pub" })
      const properties = {
        payloadFormatIndicator: true,
        contentType: "application/json",
        responseTopic: "replies/1",
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: { trace: "abc", hop: ["1", "2"] }
      }
      yield* call((cb) => pub.publish("props", '{"a":1}', { qos: 1, properties }, cb))
      const received = yield* Queue.take(yield* messages(sub))
      const p = received.packet.properties!
      assert.strictEqual(p.payloadFormatIndicator, true)
      assert.strictEqual(p.contentType, "application/json")
      assert.strictEqual(p.responseTopic, "replies/1")
      assert.deepStrictEqual([...p.correlationData!], [1, 2, 3])
      assert.deepStrictEqual(p.userProperties, { trace: "abc", hop: ["1", "2"] })
    }).pipe(withServer())
  )

  it.effect("keeps user properties in wire order, repeated names included", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [sub] = yield* connect5(server, { clientId: "sub" })
      yield* subscribeRaw(sub, [{ topicFilter: "t", qos: 0 }])
      const [pub] = yield* connect5(server, { clientId: "pub" })
      const userProperties: ReadonlyArray<readonly [string, string]> = [
        ["b", "1"],
        ["a", "2"],
        ["b", "3"]
      ]
      yield* pub.send(publish("t", "x", { properties: { userProperties } }))
      const delivered = (yield* sub.next) as Packet.Publish
      assert.deepStrictEqual(delivered.properties?.userProperties, userProperties)
    }).pipe(withServer())
  )

  it.effect("resolves topic aliases from the client (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const sub = yield* connectClient(server, { protocolVersion: 5, clientId: "sub" })
      yield* call((cb) => sub.subscribe("long/topic/name", { qos: 1 }, cb))
      const pub = yield* connectClient(server, { protocolVersion: 5, clientId: "pub" })
      yield* call((cb) => pub.publish("long/topic/name", "first", { qos: 1, properties: { topicAlias: 1 } }, cb))
      yield* call((cb) => pub.publish("", "second", { qos: 1, properties: { topicAlias: 1 } }, cb))
      const inbox = yield* messages(sub)
      const received = [yield* Queue.take(inbox), yield* Queue.take(inbox)]
      assert.deepStrictEqual(
        received.map((m) => [m.topic, m.payload]),
        [
          ["long/topic/name", "first"],
          ["long/topic/name", "second"]
        ]
      )
    }).pipe(withServer())
  )

  it.effect("an unknown topic alias is a protocol error; one above the maximum gets 0x94", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [unknown] = yield* connect5(server, { clientId: "u" })
      yield* unknown.send(publish("", "x", { properties: { topicAlias: 2 } }))
      assert.strictEqual(reasonCodeOf(yield* unknown.next), 0x82)
      const [above] = yield* connect5(server, { clientId: "a" })
      yield* above.send(publish("t", "x", { properties: { topicAlias: 11 } }))
      assert.strictEqual(reasonCodeOf(yield* above.next), 0x94)
      const violation = yield* server.waitFor(ServerEvent.is("ProtocolViolation", (e) => e.clientId === "a"))
      assert.strictEqual(violation.spec, "MQTT-3.3.2-9")
    }).pipe(withServer())
  )

  it.effect("assigns topic aliases towards a client that accepts them (MQTT.js resolves them)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const sub = yield* connectClient(server, {
        protocolVersion: 5,
        clientId: "sub",
        properties: { topicAliasMaximum: 4 }
      })
      yield* call((cb) => sub.subscribe("a/#", { qos: 0 }, cb))
      for (const payload of ["1", "2"]) yield* server.publish("a/b", payload)
      const inbox = yield* messages(sub)
      const received = [yield* Queue.take(inbox), yield* Queue.take(inbox)]
      assert.deepStrictEqual(
        received.map((m) => m.topic),
        ["a/b", "a/b"]
      )
      const wire = yield* collect(server, ServerEvent.isPacket("PacketSent", "Publish", { clientId: "sub" }), 2)
      assert.deepStrictEqual(
        wire.map((e) => [e.packet.topic, e.packet.properties?.topicAlias]),
        [
          ["a/b", 1],
          ["", 1]
        ]
      )
    }).pipe(withServer({ assignTopicAliases: true }))
  )

  it.effect("answers a PUBREL for an unknown packet id with PUBCOMP 0x92", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "stray" })
      yield* raw.send({ _tag: "Pubrel", packetId: 44 })
      assert.deepStrictEqual(yield* raw.next, { _tag: "Pubcomp", packetId: 44, reasonCode: 0x92 })
    }).pipe(withServer())
  )

  it.effect("answers PUBACK 0x10 when nobody is subscribed", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "lonely" })
      yield* raw.send(publish("nobody", "x", { qos: 1, packetId: 3 }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Puback", packetId: 3, reasonCode: 0x10 })
    }).pipe(withServer())
  )

  it.effect("refuses QoS above the maximum (0x9B) and retain when unsupported (0x9A)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [qos] = yield* connect5(server, { clientId: "q" })
      yield* qos.send(publish("t", "x", { qos: 2, packetId: 1 }))
      assert.strictEqual(reasonCodeOf(yield* qos.next), 0x9b)
      const [retain] = yield* connect5(server, { clientId: "r" })
      yield* retain.send(publish("t", "x", { retain: true }))
      assert.strictEqual(reasonCodeOf(yield* retain.next), 0x9a)
    }).pipe(withServer({ capabilities: { maximumQoS: 1, retainAvailable: false } }))
  )

  it.effect("disconnects a client that exceeds the server's Receive Maximum with 0x93", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "greedy" })
      yield* raw.send(publish("t", "1", { qos: 2, packetId: 1 }))
      yield* raw.send(publish("t", "2", { qos: 2, packetId: 2 }))
      yield* raw.send(publish("t", "3", { qos: 2, packetId: 3 }))
      assert.strictEqual((yield* raw.next)._tag, "Pubrec")
      assert.strictEqual((yield* raw.next)._tag, "Pubrec")
      assert.strictEqual(reasonCodeOf(yield* raw.next), 0x93)
    }).pipe(withServer({ capabilities: { receiveMaximum: 2 } }))
  )

  it.effect("never has more unacknowledged publishes in flight to a client than its Receive Maximum", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "small", properties: { receiveMaximum: 2 } })
      yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 1 }])
      for (const n of ["1", "2", "3", "4"]) yield* server.publish("t", n, { qos: 1 })
      const first = (yield* raw.next) as Packet.Publish
      const second = (yield* raw.next) as Packet.Publish
      yield* server.publish("t", "marker", { qos: 0 })
      // The QoS 0 marker overtakes messages 3 and 4, which wait for a free slot.
      assert.strictEqual(new TextDecoder().decode(((yield* raw.next) as Packet.Publish).payload), "marker")
      yield* raw.send({ _tag: "Puback", packetId: first.packetId! })
      const third = (yield* raw.next) as Packet.Publish
      assert.deepStrictEqual(
        [first, second, third].map((p) => new TextDecoder().decode(p.payload)),
        ["1", "2", "3"]
      )
    }).pipe(withServer())
  )

  it.effect("never sends a packet larger than the client's Maximum Packet Size [MQTT-3.1.2-25]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "tiny", properties: { maximumPacketSize: 64 } })
      yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 1 }])
      yield* server.publish("t", "x".repeat(100), { qos: 1 })
      yield* server.publish("t", "small", { qos: 1 })
      const delivered = (yield* raw.next) as Packet.Publish
      assert.strictEqual(new TextDecoder().decode(delivered.payload), "small")
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.spec === "MQTT-3.1.2-25"))
      assert.include(warning.message, "exceeds the maximum packet size of 64")
    }).pipe(withServer())
  )

  it.effect("does not deliver expired messages and sends the remaining expiry interval", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [first] = yield* connect5(server, {
        clientId: "later",
        clean: true,
        properties: { sessionExpiryInterval: 600 }
      })
      yield* subscribeRaw(first, [{ topicFilter: "t", qos: 1 }])
      yield* first.send({ _tag: "Disconnect", reasonCode: 0 })
      yield* first.closed
      yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      yield* server.publish("t", "short", { qos: 1, properties: { messageExpiryInterval: 10 } })
      yield* server.publish("t", "long", { qos: 1, properties: { messageExpiryInterval: 60 } })
      yield* TestClock.adjust("20 seconds")
      const [again, connack] = yield* connect5(server, {
        clientId: "later",
        clean: false,
        properties: { sessionExpiryInterval: 600 }
      })
      assert.isTrue(connack.sessionPresent)
      const delivered = (yield* again.next) as Packet.Publish
      assert.strictEqual(new TextDecoder().decode(delivered.payload), "long")
      assert.strictEqual(delivered.properties?.messageExpiryInterval, 40)
    }).pipe(withServer())
  )

  it.effect("does not resend during a live MQTT 5 connection by default", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 1 }])
      yield* server.publish("t", "m", { qos: 1 })
      yield* raw.next
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual((yield* server.stats).perConnection[0]!.packetsOut, 3)
    }).pipe(withServer())
  )

  it.effect("resends during a live MQTT 5 connection when the test sets an ack timeout", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 1 }])
      yield* server.publish("t", "m", { qos: 1 })
      const original = (yield* raw.next) as Packet.Publish
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* raw.next, { ...original, dup: true })
    }).pipe(withServer({ ackTimeouts: { mqtt5: 2000 } }))
  )

  it.effect("warns when a client resends a PUBLISH on a live MQTT 5 connection", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "eager" })
      yield* raw.send(publish("t", "x", { qos: 1, packetId: 9 }))
      yield* raw.next
      yield* raw.send(publish("t", "x", { qos: 1, packetId: 9, dup: true }))
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.spec === "MQTT-4.4.0-1"))
      assert.include(warning.message, "PUBLISH 9 resent")
    }).pipe(withServer())
  )
})
