import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import mqtt from "mqtt"
import {
  call,
  connect5,
  connectClient,
  connectPacket,
  type RawClient,
  rawClient,
  subscribeRaw,
  text
} from "./helpers.js"

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

  const pubackIds = (raw: RawClient, n: number) =>
    Effect.gen(function* () {
      const ids: Array<number> = []
      for (let i = 0; i < n; i++) ids.push(((yield* raw.next) as Packet.Puback).packetId)
      return ids
    })

  it.effect("reorder with no selector swaps pairs: 2, 1, 4, 3", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "c" })
      for (let id = 1; id <= 4; id++) yield* raw.send(publish(id))
      assert.deepStrictEqual(yield* pubackIds(raw, 4), [2, 1, 4, 3])
    }).pipe(withServer({ packetFaults: { faults: [{ packet: "Puback", action: "reorder" }] } }))
  )

  it.effect("reorder every 2nd: the 2nd goes after the 3rd, the 4th after the 5th; the last one held is released", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      for (let id = 1; id <= 6; id++) yield* raw.send(publish(id))
      assert.deepStrictEqual(yield* pubackIds(raw, 5), [1, 3, 2, 5, 4])
      // The 6th is held with no successor: it goes out alone after maxHold.
      yield* server.waitFor(
        ServerEvent.is("FaultInjected", (e) => e.detail === "reorder PUBACK #6 (held for the next one)")
      )
      const last = yield* Effect.forkChild(raw.next)
      yield* TestClock.adjust("250 millis")
      assert.strictEqual(((yield* Fiber.join(last)) as Packet.Puback).packetId, 6)
      const released = yield* server.waitFor(
        ServerEvent.is("FaultInjected", (e) => e.detail.includes("released alone"))
      )
      assert.strictEqual(released.detail, "reorder: PUBACK released alone after 250 ms")
    }).pipe(withServer({ packetFaults: { faults: [{ packet: "Puback", action: "reorder", every: 2, maxHold: 250 }] } }))
  )

  it.effect("a packet held by reorder is written before the connection closes", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "leaving" }))
      yield* raw.next
      yield* raw.send(publish(9))
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.detail.startsWith("reorder PUBACK #1")))
      yield* raw.send({ _tag: "Disconnect" })
      assert.strictEqual(((yield* raw.next) as Packet.Puback).packetId, 9)
      yield* raw.closed
    }).pipe(withServer({ packetFaults: { faults: [{ packet: "Puback", action: "reorder", maxHold: 60_000 }] } }))
  )

  it.effect("after configure, nth counts from the change", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* connect5(server, { clientId: "c" })
      for (let id = 1; id <= 3; id++) yield* raw.send(publish(id))
      assert.deepStrictEqual(yield* pubackIds(raw, 3), [1, 2, 3])
      yield* server.configure({ packetFaults: { faults: [{ packet: "Puback", action: "drop", nth: 1 }] } })
      // The first PUBACK after the change (the 4th of the connection) is dropped, not the 1st of the connection.
      yield* raw.send(publish(4))
      yield* raw.send(publish(5))
      assert.deepStrictEqual(yield* pubackIds(raw, 1), [5])
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "packetFaults"))
      assert.strictEqual(fault.detail, "drop PUBACK #1")
    }).pipe(withServer())
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
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "network.latency"))
      assert.strictEqual(fault.detail, "1 packet (4 bytes) delayed by 1000 ms")
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
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "network.slice"))
      // Four bytes, three pauses between them.
      for (let i = 0; i < 3; i++) yield* TestClock.adjust("5 millis")
      assert.strictEqual((yield* Fiber.join(connack))._tag, "Connack")
    }).pipe(withServer({ network: { slice: { size: 1, pause: 5 } } }))
  )

  /**
   * A raw client subscribed to `topic`, then given a bandwidth cap; `received`
   * counts the bytes it gets from then on, and `reached(n)` completes once it
   * has n of them.
   */
  const pacedClient = (server: MqttServer.MqttServer["Service"], topic: string, bandwidth: number) =>
    Effect.gen(function* () {
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "paced" }))
      yield* raw.next
      yield* subscribeRaw(raw, [{ topicFilter: topic, qos: 0 }])
      yield* server.configure({ network: { bandwidth } })
      const received = { count: 0 }
      raw.socket.on("data", (chunk: Buffer) => {
        received.count += chunk.length
      })
      const reached = (n: number) =>
        Effect.callback<void>((resume) => {
          if (received.count >= n) return resume(Effect.void)
          const onData = () => {
            if (received.count < n) return
            raw.socket.off("data", onData)
            resume(Effect.void)
          }
          raw.socket.on("data", onData)
          return Effect.sync(() => void raw.socket.off("data", onData))
        })
      return { raw, received, reached }
    })

  it.effect("a bandwidth cap paces the bytes themselves: 10 kB at 2000 B/s arrive over 5 s, spread over reads", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const { raw, received, reached } = yield* pacedClient(server, "big", 2000)
      yield* server.publish("big", new Uint8Array(10_000))
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "network.bandwidth"))
      assert.strictEqual(fault.detail, "1 packet (10008 bytes) paced at 2000 bytes/s (5004 ms)")
      for (let second = 1; second <= 4; second++) {
        yield* TestClock.adjust("1 second")
        yield* reached(second * 2000)
        assert.strictEqual(received.count, second * 2000, `after ${second} s`)
      }
      const publish = yield* Effect.forkChild(raw.next)
      yield* TestClock.adjust("1004 millis")
      const packet = (yield* Fiber.join(publish)) as Packet.Publish
      assert.strictEqual(packet.payload.length, 10_000)
      assert.strictEqual(received.count, 10_008)
    }).pipe(withServer())
  )

  it.effect("the link is shared: a second write waits for the first to go through", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const { received, reached } = yield* pacedClient(server, "t", 1000)
      // Two 500-byte PUBLISHes (506 bytes on the wire each), in two writes: 1012 ms of link for both.
      const paced = ServerEvent.is("FaultInjected", (e) => e.fault === "network.bandwidth")
      const mark = yield* server.mark
      yield* server.publish("t", new Uint8Array(500))
      yield* server.waitFor(paced, { after: mark })
      const second = yield* server.mark
      yield* server.publish("t", new Uint8Array(500))
      yield* TestClock.adjust("506 millis")
      yield* reached(506)
      assert.strictEqual(received.count, 506)
      // The second write starts when the first has gone through.
      yield* server.waitFor(paced, { after: second })
      yield* TestClock.adjust("505 millis")
      yield* reached(1006)
      assert.strictEqual(received.count, 1006)
      yield* TestClock.adjust("1 millis")
      yield* reached(1012)
      assert.strictEqual(received.count, 1012)
    }).pipe(withServer())
  )

  it.effect("a slow consumer: readBandwidth paces how fast the server handles what a client sends", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "hasty" }))
      yield* raw.next
      yield* server.configure({ network: { readBandwidth: 2000 } })
      // 1006 bytes: handled once 1100 bytes (11 pieces of 100) have been read at 2000 bytes/s.
      yield* raw.send({ ...publish(1), payload: new Uint8Array(1000) })
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "network.readBandwidth"))
      assert.match(fault.detail, /^\d+ bytes read at 2000 bytes\/s$/)
      yield* TestClock.adjust("500 millis")
      assert.strictEqual((yield* server.stats).perConnection[0]!.packetsIn, 1)
      const puback = yield* Effect.forkChild(raw.next)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(((yield* Fiber.join(puback)) as Packet.Puback).packetId, 1)
      const received = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Publish"))
      assert.isAtLeast(received.timestamp - fault.timestamp, 500)
    }).pipe(withServer())
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

  it.live("closing with RST instead of FIN: every client sees ECONNRESET, also with the CPU busy", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      // Two busy loops for as long as the test runs: the load under which the RST used to arrive unseen.
      yield* Effect.acquireRelease(
        Effect.sync(() => [0, 1].map(() => ChildProcess.spawn("sh", ["-c", "while :; do :; done"]))),
        (burners) =>
          Effect.sync(() => {
            for (const burner of burners) burner.kill("SIGKILL")
          })
      )
      const one = Effect.callback<string>((resume) => {
        const socket = Net.createConnection({ host: server.host, port: server.port })
        socket.on("connect", () =>
          socket.write(Buffer.from([0x10, 0x0c, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 0]))
        )
        socket.on("data", () => {})
        socket.on("error", (e: NodeJS.ErrnoException) => resume(Effect.succeed(e.code ?? "error")))
        socket.on("close", () => resume(Effect.succeed("closed without error")))
      })
      const results = yield* Effect.all(
        Array.from({ length: 100 }, () => one),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        results.filter((code) => code !== "ECONNRESET"),
        []
      )
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "network.close"))
      assert.strictEqual(fault.detail, "connection closed with a TCP RST")
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

  it.effect("blackhole { after: 0 } counts from the CONNACK: the client gets its CONNACK, then silence", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [, connack] = yield* connect5(server, { clientId: "hushed" })
      assert.strictEqual(connack.reasonCode, 0)
      const sent = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack"))
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "blackhole"))
      assert.isAtLeast(fault.timestamp, sent.timestamp)
    }).pipe(withServer({ blackhole: { after: 0 } }))
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
