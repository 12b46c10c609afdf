import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import mqtt from "mqtt"
import { call, connect5, connectClient, connectPacket, rawClient, subscribeRaw, text } from "./helpers.js"

type Config = Parameters<typeof MqttServer.layerTest>[0]
const withServer = (config: Config = {}) => Effect.provide(MqttServer.layerTest(config))

const publish = (packetId: number, topic = "t"): Packet.Publish => ({
  _tag: "Publish",
  topic,
  payload: text("x"),
  qos: 1,
  packetId,
  retain: false,
  dup: false
})

describe("bad packet flow", () => {
  it.live("a dropped PUBACK makes MQTT.js resend the PUBLISH after reconnecting", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* Effect.acquireRelease(
        Effect.promise(() =>
          mqtt.connectAsync(server.url, { clientId: "resender", clean: false, reconnectPeriod: 50 })
        ),
        (c) => Effect.promise(() => c.endAsync(true))
      )
      const acked = yield* Effect.forkChild(call((cb) => client.publish("t", "once", { qos: 1 }, cb)))
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.detail.startsWith("drop PUBACK")))
      yield* server.disconnect(0)
      const resent = yield* server.waitFor(
        ServerEvent.is("PacketReceived", (e) => e.connection === 1 && e.packet._tag === "Publish")
      )
      const first = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Publish", { connection: 0 }))
      assert.strictEqual((resent.packet as Packet.Publish).packetId, first.packet.packetId)
      yield* Fiber.join(acked)
    }).pipe(withServer({ packetFaults: [{ faults: [{ packet: "Puback", action: "drop", nth: 1 }] }, null] }))
  )

  it.effect("duplicate and spurious acknowledgements", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "c" })
      yield* raw.send(publish(5))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Puback", packetId: 5, reasonCode: 0x10 })
      assert.deepStrictEqual(yield* raw.next, { _tag: "Puback", packetId: 5, reasonCode: 0x10 })
      yield* raw.send({ _tag: "Subscribe", packetId: 6, subscriptions: [{ topicFilter: "a", qos: 0 }] })
      assert.strictEqual(((yield* raw.next) as Packet.Suback).packetId, 6)
      const spurious = (yield* raw.next) as Packet.Suback
      assert.strictEqual(spurious._tag, "Suback")
      assert.notStrictEqual(spurious.packetId, 6)
    }).pipe(
      withServer({
        packetFaults: {
          faults: [
            { packet: "Puback", action: "duplicate" },
            { packet: "Suback", action: "spurious" }
          ]
        }
      })
    )
  )

  it.effect("acknowledgements out of order", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "c" })
      yield* raw.send(publish(1))
      yield* raw.send(publish(2))
      const first = (yield* raw.next) as Packet.Puback
      const second = (yield* raw.next) as Packet.Puback
      assert.deepStrictEqual([first.packetId, second.packetId], [2, 1])
    }).pipe(withServer({ packetFaults: { faults: [{ packet: "Puback", action: "reorder", nth: 1 }] } }))
  )

  it.effect("a PUBLISH redelivered with DUP, and one with a QoS above the granted one", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "sub" })
      yield* subscribeRaw(raw, [
        { topicFilter: "t", qos: 1 },
        { topicFilter: "q0", qos: 0 }
      ])
      yield* server.publish("t", "m", { qos: 1 })
      const original = (yield* raw.next) as Packet.Publish
      const again = (yield* raw.next) as Packet.Publish
      assert.deepStrictEqual([original.dup, again.dup, again.packetId], [false, true, original.packetId])
      yield* server.publish("q0", "upgraded", { qos: 0 })
      const upgraded = (yield* raw.next) as Packet.Publish
      assert.deepStrictEqual([upgraded.topic, upgraded.qos], ["q0", 1])
      assert.isDefined(upgraded.packetId)
    }).pipe(
      withServer({
        packetFaults: {
          faults: [
            { packet: "Publish", action: "redeliverDup", nth: 1 },
            { packet: "Publish", action: "qosUpgrade", nth: 2 }
          ]
        }
      })
    )
  )

  it.effect("a seeded probability drops the same acknowledgements on every run", () => {
    const run = Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      for (let id = 1; id <= 20; id++) yield* raw.send(publish(id))
      yield* raw.send({ _tag: "Pingreq" })
      const acked: Array<number> = []
      for (;;) {
        const packet = yield* raw.next
        if (packet._tag === "Pingresp") break
        acked.push((packet as Packet.Puback).packetId)
      }
      return acked
    }).pipe(withServer({ seed: 7, packetFaults: { faults: [{ packet: "Puback", action: "drop", probability: 0.5 }] } }))
    return Effect.gen(function* () {
      const first = yield* Effect.scoped(run)
      const second = yield* Effect.scoped(run)
      assert.deepStrictEqual(first, second)
      assert.isAbove(first.length, 0)
      assert.isBelow(first.length, 20)
    })
  })
})

describe("packet identifier strategies", () => {
  const ids = (config: Config, n = 3) =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "ids" }))
      yield* raw.next
      yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 1 }])
      const out: Array<number> = []
      for (let i = 0; i < n; i++) {
        yield* server.publish("t", `${i}`, { qos: 1 })
        out.push(((yield* raw.next) as Packet.Publish).packetId!)
      }
      return out
    }).pipe(withServer(config), Effect.scoped)

  it.effect("sequential from a start value wraps 65535 → 1", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* ids({ packetIds: { strategy: "sequential", start: 65534 } }), [65534, 65535, 1])
    })
  )

  it.effect("random is seeded; lowest free; and deliberately reusing an id in flight", () =>
    Effect.gen(function* () {
      const a = yield* ids({ packetIds: { strategy: "random" }, seed: 3 })
      const b = yield* ids({ packetIds: { strategy: "random" }, seed: 3 })
      assert.deepStrictEqual(a, b)
      assert.notDeepEqual(a, [1, 2, 3])
      assert.deepStrictEqual(yield* ids({ packetIds: { strategy: "lowestFree" } }), [1, 2, 3])
      assert.deepStrictEqual(yield* ids({ packetIds: { strategy: "reuse" } }), [1, 1, 1])
    })
  )
})

describe("network impairments (TestClock)", () => {
  it.effect("added latency holds every write", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "far" }))
      const connack = yield* Effect.forkChild(raw.next)
      yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Connect"))
      yield* TestClock.adjust("999 millis")
      assert.strictEqual((yield* server.stats).packetsOut, 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(connack))._tag, "Connack")
    }).pipe(withServer({ network: { latency: 1000 } }))
  )

  it.effect("slicing writes a packet a few bytes at a time; the client still reassembles it", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "sliced" }))
      const connack = yield* Effect.forkChild(raw.next)
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "network"))
      // Four bytes, three pauses between them.
      for (let i = 0; i < 3; i++) yield* TestClock.adjust("5 millis")
      assert.strictEqual((yield* Fiber.join(connack))._tag, "Connack")
    }).pipe(withServer({ network: { slice: { size: 1, pause: 5 } } }))
  )

  it.effect("a bandwidth cap paces the writes", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "slow" }))
      yield* raw.next
      yield* raw.send({ _tag: "Pingreq" })
      // The 4-byte CONNACK at 4 bytes/s takes the link for a second.
      const pong = yield* Effect.forkChild(raw.next)
      yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Pingreq"))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(pong))._tag, "Pingresp")
    }).pipe(withServer({ network: { bandwidth: 4 } }))
  )

  it.effect("coalescing gathers several packets into one write", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      const writes: Array<number> = []
      raw.socket.on("data", (chunk: Buffer) => writes.push(chunk.length))
      yield* raw.send(connectPacket({ clientId: "batch" }))
      yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Connect"))
      yield* server.publish("x", "1")
      yield* TestClock.adjust("50 millis")
      yield* raw.next
      assert.strictEqual(writes[0], 4)
    }).pipe(withServer({ network: { coalesce: 50 } }))
  )

  it.live("closing with RST instead of FIN", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const error = yield* Effect.callback<string>((resume) => {
        const socket = Net.createConnection({ host: server.host, port: server.port })
        socket.on("connect", () =>
          socket.write(Buffer.from([0x10, 0x0c, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 0]))
        )
        socket.on("error", (e: NodeJS.ErrnoException) => resume(Effect.succeed(e.code ?? "error")))
        socket.on("close", () => resume(Effect.succeed("closed without error")))
      })
      assert.strictEqual(error, "ECONNRESET")
    }).pipe(withServer({ maxPackets: 1, network: { close: "rst" } }))
  )
})

describe("faults armed from the config", () => {
  it.effect("blackhole a connection a while after its CONNECT", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "doomed" })
      yield* raw.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* raw.next)._tag, "Pingresp")
      yield* TestClock.adjust("2 seconds")
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "blackhole"))
      assert.strictEqual(fault.clientId, "doomed")
    }).pipe(withServer({ blackhole: { after: 2000 } }))
  )

  it.effect("go offline a while after the start, then back online", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      yield* TestClock.adjust("1 second")
      yield* raw.closed
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "Offline")
      yield* TestClock.adjust("5 seconds")
      yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("back online")))
      const [, connack] = yield* connect5(server, { clientId: "again" })
      assert.strictEqual(connack.reasonCode, 0)
    }).pipe(withServer({ offline: { after: 1000, duration: 5000 } }))
  )
})

describe("going offline", () => {
  it.live("drops every connection and refuses new ones until back online (MQTT.js reconnects)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => mqtt.connectAsync(server.url, { clientId: "roamer", reconnectPeriod: 20 })),
        (c) => Effect.promise(() => c.endAsync(true))
      )
      const offline = Effect.callback<void>((resume) => {
        client.once("offline", () => resume(Effect.void))
      })
      yield* server.goOffline()
      yield* offline
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "Offline")
      const refused = yield* Effect.callback<boolean>((resume) => {
        const s = Net.createConnection({ host: server.host, port: server.port })
        s.once("connect", () => resume(Effect.succeed(false)))
        s.once("error", () => resume(Effect.succeed(true)))
      })
      assert.isTrue(refused)
      yield* server.goOnline
      const back = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Connect", { connection: 1 }))
      assert.strictEqual(back.clientId ?? back.packet.clientId, "roamer")
    }).pipe(withServer())
  )

  it.effect("blackhole after a delay", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "later" })
      yield* server.blackhole("all", { after: 1000 })
      // Not yet: the connection still answers.
      yield* raw.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* raw.next)._tag, "Pingresp")
      yield* TestClock.adjust("1 second")
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "blackhole"))
      const pong = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Pingresp"))
      assert.strictEqual(fault.timestamp - pong.timestamp, 1000)
    }).pipe(withServer())
  )

  it.live("offline with keep: new clients are refused, the live ones go on", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "stays" })
      yield* server.goOffline({ keep: true })
      const refused = yield* Effect.callback<boolean>((resume) => {
        const s = Net.createConnection({ host: server.host, port: server.port })
        s.once("connect", () => resume(Effect.succeed(false)))
        s.once("error", () => resume(Effect.succeed(true)))
      })
      assert.isTrue(refused)
      yield* raw.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* raw.next)._tag, "Pingresp")
      yield* server.goOnline
      const [, connack] = yield* connect5(server, { clientId: "newcomer" })
      assert.strictEqual(connack.reasonCode, 0)
    }).pipe(withServer())
  )

  it.live(
    "blackhole: the socket stays open, only the client's keep alive notices",
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const client = yield* connectClient(server, { clientId: "ka", keepalive: 1 })
        const noticed = Effect.callback<void>((resume) => {
          client.once("close", () => resume(Effect.void))
        })
        yield* server.blackhole(0)
        yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "blackhole"))
        yield* noticed
        const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
        // The server did not close it: the client did, when its keep alive went unanswered.
        assert.strictEqual(closed.reason, "ClientClosed")
      }).pipe(withServer()),
    10_000
  )
})
