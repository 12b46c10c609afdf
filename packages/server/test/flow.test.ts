/**
 * Flow control over real sockets: a subscriber that stops reading cannot make
 * the server buffer without bound, whatever the publishers send; the outbox
 * policy says what happens, with events, and everybody else is served.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Encoder, type Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Result, type Scope } from "effect"
import { TestClock } from "effect/testing"
import mqtt from "mqtt"
import { connectPacket, rawClient } from "./helpers.js"

type Options = Parameters<typeof MqttServer.layerTest>[0]
const withServer = (config: Options = {}) => Effect.provide(MqttServer.layerTest(config))
type Server = MqttServer.MqttServer["Service"]

const encode = (packet: Packet.Packet) => Result.getOrThrow(Encoder.encode(packet, 4))

/** A TCP client of the server that never reads a byte (its socket stays paused). */
const socketOf = (
  server: Server,
  packets: ReadonlyArray<Packet.Packet>
): Effect.Effect<Net.Socket, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket>((resume) => {
      const socket = Net.createConnection({ host: server.host, port: server.port })
      socket.pause()
      socket.on("error", () => {})
      socket.once("connect", () => {
        socket.write(Buffer.concat(packets.map(encode)))
        resume(Effect.succeed(socket))
      })
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** A subscriber to `topic` that stops reading right away. */
const pausedSubscriber = (server: Server, clientId: string, qos: Packet.QoS) =>
  Effect.gen(function* () {
    const socket = yield* socketOf(server, [
      connectPacket({ clientId }),
      { _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "flood/#", qos }] }
    ])
    yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback", { clientId }))
    return socket
  })

const payload = new Uint8Array(1000).fill(0x61)

/** `count` PUBLISHes of 1000 bytes written at once by one publisher; the last one is on "flood/last". */
const flood = (server: Server, count: number, qos: Packet.QoS) =>
  socketOf(server, [
    connectPacket({ clientId: "publisher" }),
    ...Array.from(
      { length: count },
      (_, i): Packet.Packet => ({
        _tag: "Publish",
        topic: i === count - 1 ? "flood/last" : "flood/x",
        payload,
        qos,
        retain: false,
        dup: false,
        ...(qos > 0 ? { packetId: (i % 65535) + 1 } : {})
      })
    )
  ])

const lastReceived = (server: Server) =>
  server.waitFor(
    ServerEvent.is("PacketReceived", (e) => e.packet._tag === "Publish" && e.packet.topic === "flood/last")
  )

const statsOf = (server: Server, clientId: string) =>
  Effect.map(server.stats, (stats) => stats.perConnection.find((c) => c.clientId === clientId)!)

describe("a subscriber that stops reading", () => {
  it.live("QoS 0 beyond the outbox bound is dropped, counted and reported; a new client still connects", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* pausedSubscriber(server, "sleepy", 0)
      const messages = 30_000
      yield* flood(server, messages, 0)
      // While the flood is handled, a new client gets its CONNACK.
      const late = yield* Effect.promise(() => mqtt.connectAsync(server.url, { clientId: "late", reconnectPeriod: 0 }))
      yield* Effect.promise(() => late.endAsync())
      const warning = yield* server.waitFor(
        ServerEvent.is("Warning", (e) => e.message.startsWith("slow consumer sleepy"))
      )
      assert.include(
        warning.message,
        "outbox full (100 packets not taken by the socket); QoS 0 messages to it are dropped"
      )
      yield* lastReceived(server)
      const sleepy = yield* statsOf(server, "sleepy")
      assert.isAtMost(sleepy.outbox, 200)
      assert.isAbove(sleepy.messagesDropped, 0)
      // Every message is accounted for: written, waiting in the outbox, or dropped (and counted).
      assert.strictEqual(sleepy.packetsOut - 2 + sleepy.outbox + sleepy.messagesDropped, messages)
    }).pipe(withServer({ maxOutbox: 100 }))
  )

  it.live("a consumer slower than its publishers but still reading loses nothing: the publishers wait for it", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      // A subscriber that reads (flowing), against one publisher writing 30,000 messages at once.
      const reader = yield* rawClient(server)
      yield* reader.send(connectPacket({ clientId: "reader" }))
      yield* reader.next
      yield* reader.send({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "flood/#", qos: 0 }] })
      yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback", { clientId: "reader" }))
      const messages = 30_000
      yield* flood(server, messages, 0)
      yield* server.waitFor(
        ServerEvent.is(
          "PacketSent",
          (e) => e.clientId === "reader" && e.packet._tag === "Publish" && e.packet.topic === "flood/last"
        )
      )
      const stats = yield* statsOf(server, "reader")
      assert.strictEqual(stats.messagesDropped, 0)
      assert.strictEqual(stats.packetsOut, messages + 2)
      assert.isAtMost(stats.outbox, 200)
    }).pipe(withServer({ maxOutbox: 100 }))
  )

  it.live('slowConsumer "disconnect" closes the client whose outbox is full', () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* pausedSubscriber(server, "sleepy", 0)
      yield* flood(server, 30_000, 0)
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.clientId === "sleepy"))
      assert.strictEqual(closed.reason, "SlowConsumer")
      const warning = yield* server.waitFor(
        ServerEvent.is("Warning", (e) => e.message.startsWith("slow consumer sleepy"))
      )
      assert.include(warning.message, "disconnected")
    }).pipe(withServer({ maxOutbox: 100, slowConsumer: "disconnect" }))
  )

  it.effect(
    "QoS 1 waits in the session queue up to maxQueuedMessages, then the oldest is dropped; no resend piles up",
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        yield* pausedSubscriber(server, "sleepy", 1)
        yield* flood(server, 30_000, 1)
        yield* TestClock.withLive(lastReceived(server))
        const full = yield* server.waitFor(
          ServerEvent.is("Warning", (e) => e.message === "queue of sleepy is full: oldest message dropped")
        )
        assert.strictEqual(full.clientId, "sleepy")
        const before = yield* statsOf(server, "sleepy")
        assert.isAtMost(before.outbox, 200)
        assert.isAbove(before.messagesDropped, 0)
        // Ack timeouts pass (MQTT 3.1.1 resends after 5 s): nothing is resent while the socket has not
        // taken what is queued, so nothing multiplies behind the client.
        yield* TestClock.adjust("1 minute")
        const after = yield* statsOf(server, "sleepy")
        assert.deepStrictEqual([after.packetsOut, after.outbox], [before.packetsOut, before.outbox])
      }).pipe(withServer({ maxOutbox: 100, maxQueuedMessages: 50 }))
  )

  it.live("a client that sends but does not read is not read on once its outbox holds twice the bound", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      // A publisher subscribed to its own messages, that never reads: its deliveries wait in its
      // session queue, its PUBACKs fill the outbox, and then the server stops reading it.
      const messages = 60_000
      yield* socketOf(server, [
        connectPacket({ clientId: "echo" }),
        { _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "flood/#", qos: 1 }] },
        ...Array.from(
          { length: messages },
          (_, i): Packet.Packet => ({
            _tag: "Publish",
            topic: "flood/x",
            payload,
            qos: 1,
            retain: false,
            dup: false,
            packetId: (i % 65535) + 1
          })
        )
      ])
      const paused = yield* server.waitFor(
        ServerEvent.is("Warning", (e) => e.message.startsWith("client echo does not read"))
      )
      assert.strictEqual(paused.clientId, "echo")
      const echo = yield* statsOf(server, "echo")
      assert.isBelow(echo.packetsIn, messages)
      assert.isAtMost(echo.outbox, 200)
      // Everybody else is served meanwhile.
      const late = yield* Effect.promise(() => mqtt.connectAsync(server.url, { clientId: "late", reconnectPeriod: 0 }))
      yield* Effect.promise(() => late.endAsync())
    }).pipe(withServer({ maxOutbox: 100 }))
  )
})

describe("the outbox's backstop", () => {
  it.live("packets injected past every policy (the send command) close the connection, not the server", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* socketOf(server, [connectPacket({ clientId: "deaf" })])
      yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack", { clientId: "deaf" }))
      const big: Packet.Publish = {
        _tag: "Publish",
        topic: "t",
        payload: new Uint8Array(8192),
        qos: 0,
        retain: false,
        dup: false
      }
      // 4 × maxOutbox + 1024 = 1424 packets at most wait for a socket that takes nothing.
      for (let i = 0; i < 3000; i++) {
        const sent = yield* Effect.result(server.send(0, big))
        if (sent._tag === "Failure") break
      }
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("outbox over")))
      assert.strictEqual(warning.message, "outbox over 1424 packets: connection closed")
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.clientId === "deaf"))
      assert.strictEqual(closed.reason, "SlowConsumer")
    }).pipe(withServer({ maxOutbox: 100 }))
  )
})

describe("closed connections", () => {
  it.effect("are kept as stats for the latest connectionHistory only; the totals count them all", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      for (let i = 0; i < 5; i++) {
        const raw = yield* rawClient(server)
        yield* raw.send(connectPacket({ clientId: `c${i}` }))
        yield* raw.next
        yield* raw.send({ _tag: "Disconnect" })
        yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.connection === i))
      }
      const stats = yield* server.stats
      assert.deepStrictEqual(
        stats.perConnection.map((c) => [c.connection, c.clientId, c.open]),
        [
          [3, "c3", false],
          [4, "c4", false]
        ]
      )
      assert.deepStrictEqual([stats.connections, stats.packetsIn, stats.packetsOut], [5, 10, 5])
    }).pipe(withServer({ connectionHistory: 2 }))
  )
})
