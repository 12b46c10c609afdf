import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Fiber, Queue } from "effect"
import { TestClock } from "effect/testing"
import {
  call,
  closedEvent,
  connect5,
  connectClient,
  connectPacket,
  messages,
  rawClient,
  subscribeRaw,
  text
} from "./helpers.js"

type Config = Parameters<typeof MqttServer.layerTest>[0]
const withServer = (config: Config = {}) => Effect.provide(MqttServer.layerTest(config))

const packetsOut = (server: MqttServer.MqttServer["Service"], connection = 0) =>
  Effect.map(server.stats, (stats) => stats.perConnection[connection]!.packetsOut)

describe("ack delays (TestClock: no real waiting)", () => {
  it.effect("a 30 s ack delay holds PUBACK until the clock reaches it", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "c" })
      const acked = yield* Effect.forkChild(call((cb) => client.publish("t", "x", { qos: 1 }, cb)))
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay"))
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual(yield* packetsOut(server), 1) // CONNACK only
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(acked)
      const puback = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Puback"))
      assert.strictEqual(puback.timestamp - (yield* server.waitFor(ServerEvent.is("FaultInjected"))).timestamp, 30_000)
    }).pipe(withServer({ ackDelay: 30_000 }))
  )

  it.effect("per packet type: SUBACK delayed, PUBACK not", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      yield* raw.send({
        _tag: "Publish",
        topic: "t",
        payload: text("x"),
        qos: 1,
        packetId: 1,
        retain: false,
        dup: false
      })
      assert.strictEqual((yield* raw.next)._tag, "Puback")
      yield* raw.send({ _tag: "Subscribe", packetId: 2, subscriptions: [{ topicFilter: "t", qos: 0 }] })
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.detail.startsWith("SUBACK")))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* raw.next)._tag, "Suback")
    }).pipe(withServer({ ackDelay: { suback: 1000 } }))
  )

  it.effect("a CONNACK delay holds the CONNACK and everything after it", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "late" }))
      yield* raw.send({ _tag: "Pingreq" })
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "connackDelay"))
      yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Pingreq"))
      assert.strictEqual(yield* packetsOut(server), 0)
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* raw.next)._tag, "Connack")
      assert.strictEqual((yield* raw.next)._tag, "Pingresp")
    }).pipe(withServer({ connackDelay: 5000 }))
  )

  it.effect("random delays are reproducible under a seed", () => {
    const run = Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "c" })
      const delays: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const acked = yield* Effect.forkChild(call((cb) => client.publish("t", `${i}`, { qos: 1 }, cb)))
        const fault = yield* server.waitFor(
          ServerEvent.is("FaultInjected", (e) => !delays.includes(e.detail) || delays.length === 0)
        )
        delays.push(fault.detail)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(acked)
      }
      return delays
    }).pipe(withServer({ ackDelay: { random: [10, 900] }, seed: 42 }))
    return Effect.gen(function* () {
      const first = yield* Effect.scoped(run)
      const second = yield* Effect.scoped(run)
      assert.deepStrictEqual(first, second)
    })
  })
})

describe("ack timeouts", () => {
  it.effect("a bounded resend schedule stops resending after its last step", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "deaf" }))
      yield* raw.next
      yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 1 }])
      yield* server.publish("t", "m", { qos: 1 })
      yield* raw.next
      yield* TestClock.adjust("1 second")
      assert.isTrue(((yield* raw.next) as Packet.Publish).dup)
      yield* TestClock.adjust("1 second")
      assert.isTrue(((yield* raw.next) as Packet.Publish).dup)
      yield* TestClock.adjust("10 seconds")
      // CONNACK, SUBACK, PUBLISH and two resends.
      assert.strictEqual(yield* packetsOut(server), 5)
    }).pipe(withServer({ ackTimeouts: { mqtt3: { fixed: 1000, times: 2 } } }))
  )
})

describe("closing on purpose", () => {
  it.effect("maxPackets closes after N received packets and a delay, without DISCONNECT (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "c", protocolVersion: 5 })
      let disconnectPacket = false
      client.on("disconnect", () => {
        disconnectPacket = true
      })
      yield* call((cb) => client.subscribe("t", { qos: 0 }, cb)) // packet 2
      yield* call((cb) => client.publish("t", "x", { qos: 1 }, cb)) // packet 3: its PUBACK still comes
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "maxPackets"))
      yield* TestClock.adjust("500 millis")
      const closed = yield* closedEvent(server, () => true)
      assert.strictEqual(closed.reason, "MaxPackets")
      assert.isFalse(disconnectPacket)
    }).pipe(withServer({ maxPackets: 3, maxPacketsDelay: 500 }))
  )

  it.effect("maxTime closes a connection that long after it was accepted", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* connectClient(server, { clientId: "c" })
      yield* TestClock.adjust("10 seconds")
      const closed = yield* closedEvent(server, () => true)
      assert.strictEqual(closed.reason, "MaxTime")
    }).pipe(withServer({ maxTime: 10_000 }))
  )

  it.effect("per-connection lists: every second connection drops after 1 packet", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const first = yield* rawClient(server)
      yield* first.send(connectPacket({ clientId: "first" }))
      assert.strictEqual((yield* first.next)._tag, "Connack")
      yield* first.closed
      const second = yield* connectClient(server, { clientId: "second" })
      yield* call((cb) => second.publish("t", "x", { qos: 1 }, cb))
      assert.isTrue(second.connected)
      const third = yield* rawClient(server)
      yield* third.send(connectPacket({ clientId: "third" }))
      yield* third.closed
    }).pipe(withServer({ maxPackets: [1, null] }))
  )
})

describe("sessions kept on purpose", () => {
  it.effect("sessionExpiry keeps even a clean 3.1.1 session, for that long", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const first = yield* connectClient(server, { clientId: "s", clean: true })
      yield* call((cb) => first.subscribe("t", { qos: 1 }, cb))
      yield* Effect.promise(() => first.endAsync())
      yield* closedEvent(server, () => true)
      yield* TestClock.adjust("59 seconds")
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "s", clean: false }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: true, reasonCode: 0 })
      raw.socket.destroy()
      yield* closedEvent(server, (e) => e.connection === 1)
      yield* TestClock.adjust("60 seconds")
      const again = yield* rawClient(server)
      yield* again.send(connectPacket({ clientId: "s", clean: false }))
      assert.deepStrictEqual(yield* again.next, { _tag: "Connack", sessionPresent: false, reasonCode: 0 })
    }).pipe(withServer({ sessionExpiry: 60_000 }))
  )
})

describe("rejecting clients", () => {
  it.effect("by client id prefix (MQTT.js is refused with 0x02, accepted with the prefix)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const refused = yield* Effect.flip(connectClient(server, { clientId: "intruder" }))
      assert.match(refused.message, /Identifier rejected/i)
      const ok = yield* connectClient(server, { clientId: "ok-1" })
      assert.isTrue(ok.connected)
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"))
      assert.strictEqual(fault.fault, "clientIdPrefix")
    }).pipe(withServer({ clientIdPrefix: { prefix: "ok-" } }))
  )

  it.effect("by credentials, with a binary password given as hex (defaults: 0x86 for MQTT 5, 0x04 for 3.1.1)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [, accepted] = yield* connect5(server, {
        clientId: "g",
        username: "user",
        password: new Uint8Array([0, 0xff, 0x10])
      })
      assert.strictEqual(accepted.reasonCode, 0)
      const [, wrong] = yield* connect5(server, { clientId: "w", username: "user", password: text("guess") })
      assert.strictEqual(wrong.reasonCode, 0x86)
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "v3", username: "nobody" }))
      assert.strictEqual(((yield* raw.next) as Packet.Connack).reasonCode, 0x04)
    }).pipe(withServer({ credentials: { username: "user", password: { hex: "00ff10" } } }))
  )

  it.effect("with the CONNACK reason code the test chooses", () =>
    Effect.gen(function* () {
      const [, refused] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "x", username: "u" })
      assert.strictEqual(refused.reasonCode, 0x87)
    }).pipe(withServer({ credentials: { username: "admin", reasonCode: 0x87 } }))
  )

  it.effect("the first connection is refused, the second accepted (per-connection list)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* Effect.flip(connectClient(server, { clientId: "a" }))
      const second = yield* connectClient(server, { clientId: "b" })
      assert.isTrue(second.connected)
    }).pipe(withServer({ clientIdPrefix: [{ prefix: "never-" }, null] }))
  )
})

describe("refusing operations", () => {
  it.effect("subscriptions to matching filters get a failure SUBACK (MQTT.js 3.1.1: 0x80)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "c" })
      // MQTT.js reports a failure return code as an error.
      const error = yield* Effect.flip(
        call((cb) => client.subscribe({ "test/nosubscribe": { qos: 1 }, "test/ok": { qos: 1 } }, cb))
      )
      assert.match(error.message, /Subscribe error/)
      const suback = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback"))
      assert.deepStrictEqual(suback.packet.reasonCodes, [0x80, 1])
    }).pipe(withServer({ refuseSubscribe: { topics: ["test/nosubscribe"] } }))
  )

  it.effect("MQTT 5 subscriptions get the chosen reason code", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "c" })
      const suback = yield* subscribeRaw(raw, [{ topicFilter: "secret/a", qos: 0 }])
      assert.deepStrictEqual(suback.reasonCodes, [0x97])
    }).pipe(withServer({ refuseSubscribe: { topics: ["secret/#"], reasonCode: 0x97 } }))
  )

  it.effect("publishes to matching topics: MQTT 5 gets 0x87 on PUBACK, MQTT 3 is dropped silently", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const watcher = yield* connectClient(server, { clientId: "watcher" })
      yield* call((cb) => watcher.subscribe("#", { qos: 1 }, cb))
      const [v5] = yield* connect5(server, { clientId: "v5" })
      yield* v5.send({
        _tag: "Publish",
        topic: "ro/x",
        payload: text("5"),
        qos: 1,
        packetId: 1,
        retain: false,
        dup: false
      })
      assert.deepStrictEqual(yield* v5.next, { _tag: "Puback", packetId: 1, reasonCode: 0x87 })
      const v3 = yield* connectClient(server, { clientId: "v3" })
      yield* call((cb) => v3.publish("ro/y", "3", { qos: 1 }, cb))
      yield* call((cb) => v3.publish("rw/z", "allowed", { qos: 1 }, cb))
      assert.strictEqual((yield* Queue.take(yield* messages(watcher))).topic, "rw/z")
    }).pipe(withServer({ refusePublish: { topics: ["ro/#"] } }))
  )

  it.effect("MQTT 5 unsubscribes from matching filters get 0x87 and the subscription stays", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      yield* subscribeRaw(raw, [{ topicFilter: "sticky", qos: 0 }])
      yield* raw.send({ _tag: "Unsubscribe", packetId: 2, topicFilters: ["sticky"] })
      assert.deepStrictEqual(yield* raw.next, { _tag: "Unsuback", packetId: 2, reasonCodes: [0x87] })
      yield* server.publish("sticky", "still")
      assert.strictEqual(((yield* raw.next) as Packet.Publish).topic, "sticky")
    }).pipe(withServer({ refuseUnsubscribe: { topics: ["sticky"] } }))
  )
})

describe("choosing behaviour", () => {
  it.effect("rules by client id: the first matching rule wins over the lists", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [fast] = yield* connect5(server, { clientId: "fast-1" })
      yield* fast.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* fast.next)._tag, "Pingresp")
      const [slow] = yield* connect5(server, { clientId: "slow-1" })
      yield* slow.send({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "t", qos: 0 }] })
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"))
      assert.deepStrictEqual([fault.clientId, fault.fault], ["slow-1", "ackDelay"])
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* slow.next)._tag, "Suback")
    }).pipe(
      withServer({
        rules: [
          { clientId: { regex: "^slow-" }, ackDelay: 5000 },
          { clientId: "slow-1", maxPackets: 1 }
        ]
      })
    )
  )

  it.effect("configure changes a live connection's behaviour from its next packet", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "c" })
      yield* call((cb) => client.publish("t", "before", { qos: 1 }, cb))
      yield* server.configure({ ackDelay: 10_000 })
      const changed = yield* server.waitFor(ServerEvent.is("BehaviorChanged"))
      assert.deepStrictEqual(changed.options, ["ackDelay"])
      const acked = yield* Effect.forkChild(call((cb) => client.publish("t", "after", { qos: 1 }, cb)))
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay"))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(acked)
      const error = yield* Effect.flip(server.configure({ maxPackets: 0 }))
      assert.include(error.message, "maxPackets")
    }).pipe(withServer())
  )
})

describe("stopping the server", () => {
  it.effect("after maxConnect connections were accepted and closed", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      for (const id of ["a", "b"]) {
        const client = yield* connectClient(server, { clientId: id })
        yield* Effect.promise(() => client.endAsync())
      }
      const finished = yield* server.finished
      assert.strictEqual(finished.stats.connections, 2)
      const stopped = finished.events.at(-1)!
      assert.deepStrictEqual(
        [stopped._tag, (stopped as ServerEvent.Of<"ServerStopped">).reason],
        ["ServerStopped", "MaxConnect"]
      )
    }).pipe(withServer({ maxConnect: 2 }))
  )

  it.effect("after maxRuntime", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* TestClock.adjust("3 seconds")
      const stopped = yield* server.waitFor(ServerEvent.is("ServerStopped"))
      assert.strictEqual(stopped.reason, "MaxRuntime")
    }).pipe(withServer({ maxRuntime: 3000 }))
  )
})
