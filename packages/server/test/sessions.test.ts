import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Queue } from "effect"
import { TestClock } from "effect/testing"
import { call, closedEvent, connectClient, connectPacket, messages, rawClient, socketClosed, text } from "./helpers.js"

const withServer = Effect.provide(MqttServer.layerTest())

describe("will messages", () => {
  const will = { topic: "will/t", payload: Buffer.from("gone"), qos: 1 as const, retain: false }

  it.effect("are published when the client's socket closes without DISCONNECT", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const watcher = yield* connectClient(server, { clientId: "watcher" })
      const inbox = yield* messages(watcher)
      yield* call((cb) => watcher.subscribe("will/#", { qos: 1 }, cb))
      const doomed = yield* connectClient(server, { clientId: "doomed", will })
      doomed.stream.destroy()
      const closed = yield* closedEvent(server, (e) => e.clientId === "doomed")
      assert.deepStrictEqual([closed.reason, closed.willPublished], ["ClientClosed", true])
      const message = yield* Queue.take(inbox)
      assert.deepStrictEqual([message.topic, message.payload], ["will/t", "gone"])
    }).pipe(withServer)
  )

  it.effect("are not published on DISCONNECT", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const watcher = yield* connectClient(server, { clientId: "watcher" })
      const inbox = yield* messages(watcher)
      yield* call((cb) => watcher.subscribe(["will/#", "marker"], { qos: 1 }, cb))
      const polite = yield* connectClient(server, { clientId: "polite", will })
      yield* Effect.promise(() => polite.endAsync())
      const closed = yield* closedEvent(server, (e) => e.clientId === "polite")
      assert.deepStrictEqual([closed.reason, closed.willPublished], ["ClientDisconnect", false])
      yield* server.publish("marker", "m", { qos: 1 })
      assert.strictEqual((yield* Queue.take(inbox)).topic, "marker")
    }).pipe(withServer)
  )

  it.effect("are published on a protocol violation", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const watcher = yield* connectClient(server, { clientId: "watcher" })
      const inbox = yield* messages(watcher)
      yield* call((cb) => watcher.subscribe("will/#", { qos: 1 }, cb))
      const raw = yield* rawClient(server)
      yield* raw.send(
        connectPacket({ clientId: "bad", will: { topic: "will/bad", payload: text("w"), qos: 0, retain: false } })
      )
      assert.strictEqual((yield* raw.next)._tag, "Connack")
      yield* raw.send({ _tag: "Publish", topic: "a/+", payload: text("x"), qos: 0, retain: false, dup: false })
      yield* raw.closed
      const closed = yield* closedEvent(server, (e) => e.clientId === "bad")
      assert.deepStrictEqual([closed.reason, closed.willPublished], ["ProtocolViolation", true])
      assert.strictEqual((yield* Queue.take(inbox)).topic, "will/bad")
    }).pipe(withServer)
  )
})

describe("keep alive", () => {
  it.effect("closes a connection silent for 1.5 × keep alive and publishes its will", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(
        connectPacket({
          clientId: "sleepy",
          keepAlive: 10,
          will: { topic: "will/sleepy", payload: text("zz"), qos: 0, retain: true }
        })
      )
      yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack", { clientId: "sleepy" }))
      yield* TestClock.adjust("14 seconds")
      yield* raw.send({ _tag: "Pingreq" })
      assert.strictEqual((yield* raw.next)._tag, "Connack")
      assert.strictEqual((yield* raw.next)._tag, "Pingresp")
      // The PINGREQ reset the timer: 14 s more is still within 15 s of it.
      yield* TestClock.adjust("14 seconds")
      assert.strictEqual((yield* server.stats).openConnections, 1)
      yield* TestClock.adjust("1 second")
      const closed = yield* closedEvent(server, (e) => e.clientId === "sleepy")
      assert.deepStrictEqual([closed.reason, closed.willPublished], ["KeepAliveTimeout", true])
      yield* raw.closed
    }).pipe(withServer)
  )

  it.effect("closes a connection that sends no CONNECT within the connect timeout", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
      yield* TestClock.adjust("10 seconds")
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "ConnectTimeout")
      yield* raw.closed
    }).pipe(withServer)
  )
})

describe("sessions", () => {
  it.effect("keep subscriptions and queue QoS 1/2 messages for an offline persistent session", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const first = yield* connectClient(server, { clientId: "durable", clean: false })
      yield* call((cb) => first.subscribe("q", { qos: 2 }, cb))
      yield* Effect.promise(() => first.endAsync())
      yield* closedEvent(server, (e) => e.clientId === "durable")
      yield* server.publish("q", "one", { qos: 1 })
      yield* server.publish("q", "dropped: QoS 0 is not queued", { qos: 0 })
      yield* server.publish("q", "two", { qos: 2 })
      const again = yield* connectClient(server, { clientId: "durable", clean: false })
      const inbox = yield* messages(again)
      const connack = yield* server.waitFor(
        ServerEvent.isPacket("PacketSent", "Connack", { clientId: "durable", connection: 1 })
      )
      assert.isTrue(connack.packet.sessionPresent)
      const received = [yield* Queue.take(inbox), yield* Queue.take(inbox)]
      assert.deepStrictEqual(
        received.map((m) => [m.payload, m.packet.qos]),
        [
          ["one", 1],
          ["two", 2]
        ]
      )
    }).pipe(withServer)
  )

  it.effect("a clean session discards the previous one", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const first = yield* connectClient(server, { clientId: "c", clean: false })
      yield* call((cb) => first.subscribe("q", { qos: 1 }, cb))
      yield* Effect.promise(() => first.endAsync())
      yield* closedEvent(server, (e) => e.clientId === "c")
      yield* connectClient(server, { clientId: "c", clean: true })
      const connack = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack", { connection: 1 }))
      assert.isFalse(connack.packet.sessionPresent)
    }).pipe(withServer)
  )

  it.effect("resends unacknowledged messages with DUP when a persistent session resumes", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "resume", clean: false }))
      yield* raw.send({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "t", qos: 2 }] })
      assert.strictEqual((yield* raw.next)._tag, "Connack")
      assert.strictEqual((yield* raw.next)._tag, "Suback")
      yield* server.publish("t", "once", { qos: 1 })
      yield* server.publish("t", "twice", { qos: 2 })
      const a = (yield* raw.next) as Packet.Publish
      const b = (yield* raw.next) as Packet.Publish
      assert.deepStrictEqual([a._tag, b._tag], ["Publish", "Publish"])
      // Acknowledge the QoS 2 message's first step only, then drop the connection.
      yield* raw.send({ _tag: "Pubrec", packetId: b.packetId! })
      assert.strictEqual((yield* raw.next)._tag, "Pubrel")
      raw.socket.destroy()
      yield* closedEvent(server, (e) => e.clientId === "resume")

      const again = yield* rawClient(server)
      yield* again.send(connectPacket({ clientId: "resume", clean: false }))
      const connack = yield* again.next
      assert.deepStrictEqual(connack, { _tag: "Connack", sessionPresent: true, reasonCode: 0 })
      const resent = yield* again.next
      assert.deepStrictEqual(resent, { ...a, dup: true })
      // The QoS 2 message had reached PUBREC: the PUBREL is resent, not the PUBLISH.
      assert.deepStrictEqual(yield* again.next, {
        _tag: "Pubrel",
        packetId: b.packetId!,
        reasonCode: 0
      })
    }).pipe(withServer)
  )

  it.effect("a second connection with the same client id takes the session over", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const first = yield* connectClient(server, { clientId: "twin" })
      const firstClosed = socketClosed(first)
      yield* connectClient(server, { clientId: "twin" })
      const closed = yield* closedEvent(server, (e) => e.connection === 0)
      assert.strictEqual(closed.reason, "SessionTakenOver")
      yield* firstClosed
      assert.strictEqual((yield* server.stats).openConnections, 1)
    }).pipe(withServer)
  )
})

describe("resend after the ack timeout (live connection)", () => {
  it.effect("resends an unacknowledged QoS 1 PUBLISH with DUP every ack timeout until acknowledged", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "slow" }))
      yield* raw.send({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "t", qos: 1 }] })
      yield* raw.next
      yield* raw.next
      yield* server.publish("t", "m", { qos: 1 })
      const original = (yield* raw.next) as { packetId: number; dup: boolean }
      assert.isFalse(original.dup)
      yield* TestClock.adjust("5 seconds")
      const resent = (yield* raw.next) as { packetId: number; dup: boolean }
      assert.deepStrictEqual([resent.packetId, resent.dup], [original.packetId, true])
      yield* raw.send({ _tag: "Puback", packetId: original.packetId })
      yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Puback", { clientId: "slow" }))
      yield* TestClock.adjust("30 seconds")
      const sent = (yield* server.stats).perConnection[0]!
      // CONNACK, SUBACK, PUBLISH, PUBLISH (DUP): nothing after the PUBACK.
      assert.strictEqual(sent.packetsOut, 4)
    }).pipe(withServer)
  )

  it.effect("never resends when the ack timeout is off", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "slow" }))
      yield* raw.send({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "t", qos: 1 }] })
      yield* raw.next
      yield* raw.next
      yield* server.publish("t", "m", { qos: 1 })
      yield* raw.next
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual((yield* server.stats).perConnection[0]!.packetsOut, 3)
    }).pipe(Effect.provide(MqttServer.layerTest({ ackTimeouts: { mqtt3: null } })))
  )
})
