/**
 * The same tests over every transport: TCP, and the in-memory transport (no
 * port, no network), through the same helpers and MQTT.js.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Fiber, Queue } from "effect"
import { TestClock } from "effect/testing"
import {
  call,
  collect,
  connectClient,
  connectPacket,
  messages,
  publishQoS1,
  rawClient,
  socketClosed
} from "./helpers.js"

type Options = Parameters<typeof MqttServer.layerTest>[0]

const transports = [
  ["TCP", MqttServer.layerTest],
  ["memory", MqttServer.layerMemory]
] as const

for (const [name, layerOf] of transports) {
  const withServer = (config: Options = {}) => Effect.provide(layerOf(config))

  describe(`over ${name}`, () => {
    it.effect("publish and subscribe at QoS 0, 1 and 2 between MQTT.js clients, MQTT 3.1.1 and 5", () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const subscriber = yield* connectClient(server, { clientId: "sub", protocolVersion: 5 })
        yield* call((cb) => subscriber.subscribe("t/#", { qos: 2 }, cb))
        const publisher = yield* connectClient(server, { clientId: "pub" })
        for (const qos of [0, 1, 2] as const) yield* call((cb) => publisher.publish(`t/${qos}`, `q${qos}`, { qos }, cb))
        const inbox = yield* messages(subscriber)
        const received = [yield* Queue.take(inbox), yield* Queue.take(inbox), yield* Queue.take(inbox)]
        assert.deepStrictEqual(
          received.map((m) => [m.topic, m.payload, m.packet.qos]),
          [
            ["t/0", "q0", 0],
            ["t/1", "q1", 1],
            ["t/2", "q2", 2]
          ]
        )
        const pubcomp = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Pubcomp", { clientId: "pub" }))
        assert.strictEqual(pubcomp.packet._tag, "Pubcomp")
      }).pipe(withServer())
    )

    it.effect("a client that drops off: its will goes out; a retained message reaches a late subscriber", () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const monitor = yield* connectClient(server, { clientId: "monitor" })
        yield* call((cb) => monitor.subscribe("status/#", { qos: 1 }, cb))
        const device = yield* connectClient(server, {
          clientId: "device",
          will: { topic: "status/device", payload: Buffer.from("offline"), qos: 1, retain: true }
        })
        const gone = socketClosed(device)
        device.stream.destroy()
        yield* gone
        const will = yield* Queue.take(yield* messages(monitor))
        assert.deepStrictEqual([will.topic, will.payload], ["status/device", "offline"])
        const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.clientId === "device"))
        assert.isTrue(closed.willPublished)
        const late = yield* connectClient(server, { clientId: "late" })
        yield* call((cb) => late.subscribe("status/device", { qos: 1 }, cb))
        const retained = yield* Queue.take(yield* messages(late))
        assert.deepStrictEqual([retained.payload, retained.packet.retain], ["offline", true])
      }).pipe(withServer())
    )

    it.effect("faults: a 30 s PUBACK delay under TestClock, and a dropped PUBACK", () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const raw = yield* rawClient(server)
        yield* raw.send(connectPacket({ clientId: "slow" }))
        assert.strictEqual((yield* raw.next)._tag, "Connack")
        yield* raw.send(publishQoS1(1))
        yield* raw.send(publishQoS1(2))
        // Both PUBACKs wait 30 s; then the first is dropped and only the second arrives.
        yield* collect(
          server,
          ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay"),
          2
        )
        const puback = yield* Effect.forkChild(raw.next)
        yield* TestClock.adjust("30 seconds")
        assert.strictEqual(((yield* Fiber.join(puback)) as Packet.Puback).packetId, 2)
        const dropped = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "packetFaults"))
        assert.strictEqual(dropped.detail, "drop PUBACK #1")
      }).pipe(
        withServer({
          ackDelay: { puback: 30_000 },
          packetFaults: { faults: [{ packet: "Puback", action: "drop", nth: 1 }] }
        })
      )
    )

    it.effect("closing with RST: the client's stream fails with ECONNRESET", () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const raw = yield* rawClient(server)
        const failure = Effect.callback<string>((resume) => {
          raw.socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? "error")))
        })
        const failed = yield* Effect.forkChild(failure)
        yield* raw.send(connectPacket({ clientId: "reset" }))
        assert.strictEqual(yield* TestClock.withLive(Fiber.join(failed)), "ECONNRESET")
      }).pipe(withServer({ maxPackets: 1, network: { close: "rst" } }))
    )

    it.effect("going offline refuses new clients; online accepts them again", () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        yield* server.goOffline()
        const refused = yield* Effect.flip(connectClient(server, { clientId: "refused" }))
        assert.match(refused.message, /ECONNREFUSED|refused/)
        yield* server.goOnline
        const back = yield* connectClient(server, { clientId: "back" })
        assert.isTrue(back.connected)
      }).pipe(withServer())
    )
  })
}

describe("the in-memory transport", () => {
  it.effect("has no port and no URL to dial: clients come in through connectStream", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      assert.deepStrictEqual(
        [server.transport, server.host, server.port, server.url],
        ["memory", "memory", 0, "memory://mqttest"]
      )
      const client = yield* connectClient(server, { clientId: "inside" })
      const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
      assert.strictEqual(opened.remoteAddress, "memory")
      assert.isTrue(client.connected)
    }).pipe(Effect.provide(MqttServer.layerMemory()))
  )
})
