/**
 * One Schema, one behaviour: library objects, `start`, `configure` and
 * `reset` accept the same options, refuse the same mistakes with errors that
 * name what is accepted, and do what the README says.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { Config, MqttServer, ServerEvent, start } from "@mqttest/server"
import { Deferred, Effect, Fiber, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import { connect5, connectPacket, publishQoS1, rawClient } from "./helpers.js"

type Options = Parameters<typeof MqttServer.layerTest>[0]
const withServer = (config: Options = {}) => Effect.provide(MqttServer.layerTest(config))

const assertPuback = (packet: Packet.Packet, packetId: number) => {
  assert.strictEqual(packet._tag, "Puback")
  assert.strictEqual((packet as Packet.Puback).packetId, packetId)
}

describe("config errors name the option and what it accepts", () => {
  it("start() refuses a misspelt option and suggests the right one", async () => {
    const error = await start({ ports: 0, ackDelai: 5 } as never).then(
      () => assert.fail("a misspelt option was accepted"),
      (error: Error) => error
    )
    assert.strictEqual((error as { _tag?: string })._tag, "ConfigError")
    assert.match(error.message, /ackDelai: unknown option; did you mean ackDelay\?/)
    assert.match(error.message, /accepted: .*connackDelay/)
  })

  it.effect("a bad value says what the option accepts and what it got", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Config.decodeUnknown({ ackDelay: "x" }))
      assert.match(error.message, /^invalid config: ackDelay: expected a number of ms, \{ fixed, times\? \}/)
      assert.match(error.message, /one per packet type \{ puback, pubrec, pubcomp, suback, unsuback \}/)
      assert.match(error.message, /got "x"$/)
      assert.notInclude(error.message, "Declaration")
      const nested = yield* Effect.flip(Config.decodeUnknown({ ackDelay: [100, { fixed: "slow" }] }))
      assert.match(nested.message, /ackDelay\[1\]\.fixed: expected number, got "slow"/)
    })
  )

  it.effect("an invalid client id regex is an error at config time", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(MqttServer.make({ ports: 0, rules: [{ clientId: { regex: "(" } }] }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.match(error.message, /rules\[0\]\.clientId\.regex: expected a valid regular expression/)
    })
  )

  it.effect("a refusal code must exist at some protocol level", () =>
    Effect.gen(function* () {
      const bad = yield* Effect.flip(Config.decodeUnknown({ credentials: { username: "u", reasonCode: 0x9e } }))
      assert.match(
        bad.message,
        /credentials\.reasonCode: expected a CONNACK refusal code \(MQTT 3\.1\.1: 1-5; MQTT 5: 0x80, .*0x9f\) or \{ mqtt3, mqtt5 \}; got 158 \(0x9e\)/
      )
      const wrongLevel = yield* Effect.flip(
        Config.decodeUnknown({ credentials: { username: "u", reasonCode: { mqtt3: 0x87 } } })
      )
      assert.match(wrongLevel.message, /reasonCode\.mqtt3: expected an MQTT 3\.1\.1 CONNACK refusal code/)
      const suback = yield* Effect.flip(Config.decodeUnknown({ refuseSubscribe: { topics: ["t"], reasonCode: 0x90 } }))
      assert.match(suback.message, /refuseSubscribe\.reasonCode: expected an MQTT 5 SUBACK failure code/)
    })
  )
})

describe("a delay object for the whole ackDelay", () => {
  it.effect("{ fixed } delays every ack (it is not read as an empty per-type object)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "fixed" }))
      assert.strictEqual((yield* raw.next)._tag, "Connack")
      yield* raw.send(publishQoS1(1))
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay"))
      assert.strictEqual(fault.detail, "PUBACK delayed by 30000 ms")
      const puback = yield* Effect.forkChild(raw.next)
      yield* TestClock.adjust("30 seconds")
      assertPuback(yield* Fiber.join(puback), 1)
    }).pipe(withServer({ ackDelay: { fixed: 30_000 } }))
  )

  it("through start() and configure() too (decoded, not dropped)", async () => {
    await using server = await start({ ports: 0, ackDelay: { fixed: 20 } })
    await server.configure({ ackDelay: { random: [10, 20] } })
    const changed = await server.waitFor(ServerEvent.is("BehaviorChanged"))
    assert.deepStrictEqual(changed.options, ["ackDelay"])
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const raw = yield* rawClient(server as never)
          yield* raw.send(connectPacket({ clientId: "random" }))
          assert.strictEqual((yield* raw.next)._tag, "Connack")
          yield* raw.send(publishQoS1(7))
          assertPuback(yield* raw.next, 7)
        })
      )
    )
    const fault = await server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay"))
    assert.match(fault.detail, /^PUBACK delayed by (1\d|20) ms$/)
    // The Promise API's reset restores the start options, and its configure refuses misspellings.
    const mark = await server.mark()
    await server.reset()
    const reset = await server.waitFor(ServerEvent.is("BehaviorChanged"), { after: mark, timeout: 5000 })
    assert.deepStrictEqual([reset.reset, reset.options], [true, ["ackDelay"]])
    const error = await server.configure({ ackDelai: 1 } as never).then(
      () => undefined,
      (error: Error) => error
    )
    assert.match(String(error?.message), /ackDelai: unknown option/)
  })
})

describe("configure and reset", () => {
  it.effect("configure refuses unknown options; null unsets; reset restores the start config", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const error = yield* Effect.flip(server.configure({ ackDelai: 5 } as never))
      assert.match(error.message, /ackDelai: unknown option; did you mean ackDelay\?/)

      const ackOf = (clientId: string, packetId: number) =>
        Effect.gen(function* () {
          const raw = yield* rawClient(server)
          yield* raw.send(connectPacket({ clientId }))
          assert.strictEqual((yield* raw.next)._tag, "Connack")
          yield* raw.send(publishQoS1(packetId))
          return yield* raw.next
        })

      // Unset: the PUBACK comes at once, without moving the clock.
      yield* server.configure({ ackDelay: null })
      assertPuback(yield* ackOf("unset", 1), 1)

      // Reset: the start config's 60 s delay is back.
      yield* server.reset
      const changed = yield* server.waitFor(ServerEvent.is("BehaviorChanged", (e) => e.reset === true))
      assert.deepStrictEqual(changed.options, ["ackDelay"])
      const delayed = yield* Effect.forkChild(ackOf("restored", 2))
      const fault = yield* server.waitFor(
        ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay" && e.clientId === "restored")
      )
      assert.strictEqual(fault.detail, "PUBACK delayed by 60000 ms")
      yield* TestClock.adjust("60 seconds")
      assertPuback(yield* Fiber.join(delayed), 2)
    }).pipe(withServer({ ackDelay: 60_000 }))
  )
})

describe("refusal codes per protocol level", () => {
  const connackCode = (server: MqttServer.MqttServer["Service"], protocolLevel: 4 | 5) =>
    Effect.gen(function* () {
      const raw = yield* rawClient(server, protocolLevel)
      yield* raw.send(connectPacket({ clientId: `c${protocolLevel}`, protocolLevel, username: "wrong" }))
      const connack = yield* raw.next
      assert.strictEqual(connack._tag, "Connack")
      return (connack as Packet.Connack).reasonCode
    })

  it.effect("one MQTT 5 code is mapped for a 3.1.1 client", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      assert.strictEqual(yield* connackCode(server, 5), 0x87)
      assert.strictEqual(yield* connackCode(server, 4), 5)
    }).pipe(withServer({ credentials: { username: "u", reasonCode: 0x87 } }))
  )

  it.effect("one 3.1.1 code is mapped for an MQTT 5 client", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      assert.strictEqual(yield* connackCode(server, 4), 2)
      assert.strictEqual(yield* connackCode(server, 5), 0x85)
    }).pipe(withServer({ credentials: { username: "u", reasonCode: 2 } }))
  )

  it.effect("{ mqtt3, mqtt5 } sets each level", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      assert.strictEqual(yield* connackCode(server, 4), 3)
      assert.strictEqual(yield* connackCode(server, 5), 0x8a)
    }).pipe(withServer({ credentials: { username: "u", reasonCode: { mqtt3: 3, mqtt5: 0x8a } } }))
  )
})

describe("internal errors are events, never a silent close", () => {
  // A user-supplied Schedule that dies stands in for any defect in a connection's work.
  const dying = Schedule.spaced("1 second").pipe(
    Schedule.modifyDelay(() => Effect.die(new Error("boom in a Schedule")))
  )

  it.effect(
    "in a packet's handling (an ack delay): Warning with the cause, close reason InternalError, DISCONNECT 0x80",
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const [raw] = yield* connect5(server, { clientId: "victim" })
        yield* raw.send(publishQoS1(1))
        const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.includes("internal error")))
        assert.include(warning.message, "boom in a Schedule")
        assert.strictEqual(warning.clientId, "victim")
        const disconnect = yield* raw.next
        assert.deepStrictEqual([disconnect._tag, (disconnect as Packet.Disconnect).reasonCode], ["Disconnect", 0x80])
        const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
        assert.strictEqual(closed.reason, "InternalError")
        // Every other connection is served as before.
        const [other, connack] = yield* connect5(server, { clientId: "other" })
        assert.strictEqual(connack.reasonCode, 0)
        yield* other.send({ _tag: "Pingreq" })
        assert.strictEqual((yield* other.next)._tag, "Pingresp")
      }).pipe(withServer({ rules: [{ clientId: "victim", ackDelay: dying }] }))
  )

  it.effect("in the write path (network latency): Warning, close reason InternalError", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "latent" }))
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.includes("internal error")))
      assert.include(warning.message, "boom in a Schedule")
      yield* raw.closed
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "InternalError")
    }).pipe(withServer({ network: { latency: dying } }))
  )
})

describe("waiting for events", () => {
  it.effect("PacketReceived for CONNECT carries the client id", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "named" }))
      const connect = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Connect", { clientId: "named" }), {
        timeout: "5 seconds"
      })
      assert.strictEqual(connect.packet.clientId, "named")
    }).pipe(withServer())
  )

  it.effect("a timeout fails with WaitForTimeout naming the predicate", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const error = yield* Effect.flip(
        server.waitFor(ServerEvent.isPacket("PacketReceived", "Subscribe", { clientId: "nobody" }), { timeout: 20 })
      )
      assert.strictEqual(error._tag, "WaitForTimeout")
      assert.strictEqual(
        error.message,
        'no event matched isPacket("PacketReceived", "Subscribe", {"clientId":"nobody"}) within 20 ms'
      )
    }).pipe(withServer())
  )

  it.effect("after a mark, waitFor finds the next matching event, not an old one", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const first = yield* rawClient(server)
      yield* first.send(connectPacket({ clientId: "one" }))
      yield* first.next
      const mark = yield* server.mark
      const second = yield* rawClient(server)
      yield* second.send(connectPacket({ clientId: "two" }))
      const old = yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
      const next = yield* server.waitFor(ServerEvent.is("ConnectionOpened"), { after: mark })
      assert.deepStrictEqual([old.connection, next.connection], [0, 1])
    }).pipe(withServer())
  )
})

describe("keep alive and a delayed CONNACK", () => {
  it.effect("the keep-alive clock starts when the CONNACK goes out", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      // Keep alive 2 s: the server may close after 3 s of silence, counted from the CONNACK.
      yield* raw.send(connectPacket({ clientId: "patient", keepAlive: 2 }))
      yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "connackDelay"))
      const connack = yield* Effect.forkChild(raw.next)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* Fiber.join(connack))._tag, "Connack")
      yield* TestClock.adjust("2900 millis")
      assert.strictEqual((yield* server.stats).openConnections, 1)
      yield* TestClock.adjust("100 millis")
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "KeepAliveTimeout")
      const sent = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack"))
      assert.strictEqual(closed.timestamp - sent.timestamp, 3000)
    }).pipe(withServer({ connackDelay: 10_000 }))
  )
})

describe("inputs that used to break the server are refused with a clear error", () => {
  it.effect("config values", () =>
    Effect.gen(function* () {
      const problem = (config: unknown) => Effect.map(Effect.flip(Config.decodeUnknown(config)), (e) => e.message)
      assert.match(yield* problem({ connectTimeout: 0 }), /connectTimeout: expected a value greater than or equal to 1/)
      assert.match(
        yield* problem({ ackDelay: { random: [100, 10] } }),
        /ackDelay\.random: expected \[min, max\] with min ≤ max/
      )
      assert.match(yield* problem({ host: "" }), /host: expected a host name or address, got an empty string/)
      // A client chooses its id: a regex with nested repetition could stall the server on a long one.
      assert.match(
        yield* problem({ rules: [{ clientId: { regex: "^(a+)+$" }, maxTime: 1 }] }),
        /rules\[0\]\.clientId\.regex: expected a regular expression without nested repetition/
      )
    })
  )

  it.effect(
    "commands: publish to a topic name that is no topic name, disconnect with a code a server may not send",
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        for (const topic of ["a/#", "+", "", "a\u0000b"]) {
          const error = yield* Effect.flip(server.publish(topic, "x"))
          assert.strictEqual(error._tag, "CommandError", topic)
        }
        assert.match(
          (yield* Effect.flip(server.publish("a/#", "x"))).message,
          /publish: topic name "a\/#" contains a wildcard/
        )
        const [raw] = yield* connect5(server, { clientId: "c" })
        const error = yield* Effect.flip(server.disconnect(0, 999))
        assert.match(
          error.message,
          /^disconnect: expected a DISCONNECT reason code a server may send \(0x00, 0x80, .*\), got 999$/
        )
        // The connection is untouched.
        yield* raw.send({ _tag: "Pingreq" })
        assert.strictEqual((yield* raw.next)._tag, "Pingresp")
      }).pipe(withServer())
  )
})

describe("a reader that falls behind", () => {
  it.effect("is told where and how many events it lost: EventsLost, with the exact count", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const start = yield* server.mark
      const gate = yield* Deferred.make<void>()
      // A reader that takes one event, then stops reading until the gate opens.
      const reader = yield* Effect.forkChild(
        server.eventsAfter(start).pipe(
          Stream.mapEffect((event, index) =>
            index === 0 ? Effect.as(Deferred.await(gate), event) : Effect.succeed(event)
          ),
          Stream.takeUntil((event) => event._tag === "BehaviorChanged" && event.options.includes("seed")),
          Stream.runCollect
        )
      )
      yield* server.configure({ maxTime: 1 })
      yield* server.waitFor(ServerEvent.is("BehaviorChanged"), { after: start })
      for (let i = 0; i < 50; i++) yield* server.configure({ maxTime: i + 2 })
      yield* server.configure({ seed: 1 })
      const total = (yield* server.mark) - start
      yield* Deferred.succeed(gate, undefined)
      const seen = yield* Fiber.join(reader)
      const lost = seen.filter((e) => e._tag === "EventsLost")
      assert.isAbove(lost.length, 0)
      const lostCount = lost.reduce((n, e) => n + (e._tag === "EventsLost" ? e.count : 0), 0)
      // Every event is either seen or counted as lost (the overflow Warnings included).
      assert.strictEqual(seen.length - lost.length + lostCount, total)
    }).pipe(withServer({ eventBufferSize: 10 }))
  )

  it.effect("with a filter, queues only the events it keeps: a flood of others loses none of them", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const start = yield* server.mark
      const gate = yield* Deferred.make<void>()
      const reading = yield* Deferred.make<void>()
      const kept = (event: ServerEvent.ServerEvent) =>
        event._tag === "BehaviorChanged" && event.options.includes("seed")
      // A reader that takes one kept event, then stops reading until the gate opens.
      const reader = yield* Effect.forkChild(
        server.eventsAfter(start, kept).pipe(
          Stream.mapEffect((event, index) =>
            index === 0
              ? Effect.as(Deferred.succeed(reading, undefined).pipe(Effect.andThen(Deferred.await(gate))), event)
              : Effect.succeed(event)
          ),
          Stream.take(7),
          Stream.runCollect
        )
      )
      yield* server.configure({ seed: 100 })
      yield* Deferred.await(reading)
      // 5 kept events among 200 others (twenty times the buffer), while the reader does not read.
      for (let i = 0; i < 5; i++) {
        for (let j = 0; j < 40; j++) yield* server.configure({ maxTime: j + 1 })
        yield* server.configure({ seed: i })
      }
      // An unfiltered reader from the same mark lost most of them.
      const all = yield* server.eventsAfter(start).pipe(Stream.take(10), Stream.runCollect)
      assert.strictEqual(all[0]?._tag, "EventsLost")
      yield* server.configure({ seed: 99 })
      yield* Deferred.succeed(gate, undefined)
      const seen = yield* Fiber.join(reader)
      // Every kept event, in order, and no EventsLost.
      assert.deepStrictEqual(
        seen.map((e) => e._tag),
        Array.from({ length: 7 }, () => "BehaviorChanged")
      )
    }).pipe(withServer({ eventBufferSize: 10 }))
  )

  it.effect("waitFor finds its event under a flood of others that overflows the buffer", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const mark = yield* server.mark
      const waiting = yield* Effect.forkChild(
        server.waitFor(
          (event): event is ServerEvent.ServerEvent =>
            event._tag === "BehaviorChanged" && event.options.includes("seed"),
          { after: mark }
        )
      )
      yield* Effect.yieldNow
      yield* server.configure({ seed: 7 })
      // 100 more events in the same synchronous run, ten times the buffer, before the waiter reads.
      for (let i = 0; i < 100; i++) yield* server.configure({ maxTime: i + 1 })
      const found = yield* Fiber.join(waiting)
      assert.strictEqual(found._tag, "BehaviorChanged")
    }).pipe(withServer({ eventBufferSize: 10 }))
  )
})
