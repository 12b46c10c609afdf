import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Fiber, Queue, Stream } from "effect"
import { call, closedEvent, connectClient, connectPacket, messages, rawClient, socketClosed, text } from "./helpers.js"

const withServer = Effect.provide(MqttServer.layerTest())

describe("commands", () => {
  it.effect("send writes any packet to a connection as it is", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket())
      assert.strictEqual((yield* raw.next)._tag, "Connack")
      // An unsolicited SUBACK, which a client never asked for.
      yield* server.send(0, { _tag: "Suback", packetId: 77, reasonCodes: [1] })
      assert.deepStrictEqual(yield* raw.next, { _tag: "Suback", packetId: 77, reasonCodes: [1] })
      const sent = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback"))
      assert.strictEqual(sent.connection, 0)
    }).pipe(withServer)
  )

  it.effect("send and disconnect fail with ConnectionNotFound for a connection that is not open", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const error = yield* Effect.flip(server.send(42, { _tag: "Pingresp" }))
      assert.deepStrictEqual([error._tag, error.connection], ["ConnectionNotFound", 42])
      assert.strictEqual((yield* Effect.flip(server.disconnect(42)))._tag, "ConnectionNotFound")
    }).pipe(withServer)
  )

  it.effect("publish delivers a message as the server, retained if asked", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "c" })
      const inbox = yield* messages(client)
      yield* call((cb) => client.subscribe("news", { qos: 1 }, cb))
      yield* server.publish("news", "hello", { qos: 1, retain: true })
      const live = yield* Queue.take(inbox)
      assert.deepStrictEqual([live.payload, live.packet.qos, live.packet.retain], ["hello", 1, false])
      const late = yield* connectClient(server, { clientId: "late" })
      const lateInbox = yield* messages(late)
      yield* call((cb) => late.subscribe("news", { qos: 0 }, cb))
      const retained = yield* Queue.take(lateInbox)
      assert.deepStrictEqual([retained.payload, retained.packet.retain], ["hello", true])
    }).pipe(withServer)
  )

  it.effect("disconnect closes a connection and publishes its will", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const watcher = yield* connectClient(server, { clientId: "watcher" })
      const inbox = yield* messages(watcher)
      yield* call((cb) => watcher.subscribe("will", { qos: 0 }, cb))
      const victim = yield* connectClient(server, {
        clientId: "victim",
        will: { topic: "will", payload: Buffer.from("bye"), qos: 0, retain: false }
      })
      const victimClosed = socketClosed(victim)
      const connection = (yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack", { clientId: "victim" })))
        .connection
      yield* server.disconnect(connection)
      yield* victimClosed
      const closed = yield* closedEvent(server, (e) => e.clientId === "victim")
      assert.deepStrictEqual([closed.reason, closed.willPublished], ["ServerDisconnect", true])
      assert.strictEqual((yield* Queue.take(inbox)).payload, "bye")
    }).pipe(withServer)
  )

  it.effect("stats count packets and bytes per connection and in total", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "counted" }))
      yield* raw.send({
        _tag: "Publish",
        topic: "t",
        payload: text("abc"),
        qos: 1,
        packetId: 5,
        retain: false,
        dup: false
      })
      yield* raw.next
      yield* raw.next
      yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Puback"))
      const stats = yield* server.stats
      const c = stats.perConnection[0]!
      // In: CONNECT 21 bytes (2 header + 10 variable header + 9 client id), PUBLISH 10. Out: CONNACK 4, PUBACK 4.
      assert.deepStrictEqual([c.clientId, c.open, c.packetsIn, c.packetsOut, c.bytesOut], ["counted", true, 2, 2, 8])
      assert.strictEqual(c.bytesIn, 21 + 10)
      assert.deepStrictEqual([stats.connections, stats.openConnections, stats.packetsIn, stats.bytesIn], [1, 1, 2, 31])
    }).pipe(withServer)
  )
})

describe("stopping", () => {
  it.effect("stop closes connections and the listener; finished returns the stats and the latest events", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { clientId: "c" })
      const clientClosed = socketClosed(client)
      const stats = yield* server.stop
      assert.strictEqual(stats.connections, 1)
      assert.strictEqual(stats.openConnections, 0)
      yield* clientClosed
      const finished = yield* server.finished
      assert.deepStrictEqual(finished.stats, stats)
      const tags = finished.events.map((e) => e._tag)
      assert.strictEqual(tags[0], "Listening")
      assert.strictEqual(tags.at(-1), "ServerStopped")
      assert.include(tags, "ConnectionClosed")
      // Every event stream ends with ServerStopped, even one started afterwards.
      const all = yield* Stream.runCollect(server.events)
      assert.strictEqual(all.at(-1)?._tag, "ServerStopped")
      const refused = yield* Effect.callback<boolean>((resume) => {
        const s = Net.createConnection({ host: server.host, port: server.port })
        s.once("connect", () => resume(Effect.succeed(false)))
        s.once("error", () => resume(Effect.succeed(true)))
      })
      assert.isTrue(refused)
      // Stopping again returns the same stats.
      assert.deepStrictEqual(yield* server.stop, stats)
    }).pipe(withServer)
  )

  it.effect("the event buffer is bounded: a reader that falls behind loses the oldest events, with a warning", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      // A subscriber that reads once (which subscribes it) and then stops reading.
      const pull = yield* Stream.toPull(server.events)
      yield* pull
      // A reader that keeps up sees the warning.
      const warned = yield* Effect.forkChild(
        server.waitFor(ServerEvent.is("Warning", (e) => e.message.includes("event buffer full")))
      )
      const client = yield* connectClient(server, { clientId: "busy" })
      for (let i = 0; i < 10; i++) yield* call((cb) => client.publish("t", `${i}`, { qos: 1 }, cb))
      const warning = yield* Fiber.join(warned)
      assert.include(warning.message, "8 events")
      // The lagging subscriber sees at most the buffer's worth of events, after an EventsLost marking the gap.
      const batch = yield* pull
      assert.strictEqual(batch[0]._tag, "EventsLost")
      assert.isAtMost(batch.length - 1, 8)
    }).pipe(Effect.provide(MqttServer.layerTest({ eventBufferSize: 8 })))
  )
})
