import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Queue } from "effect"
import { TestClock } from "effect/testing"
import { call, connect5, connectClient, messages, type RawClient, type Server, text } from "./helpers.js"

const withServer = Effect.provide(MqttServer.layerTest())

/** Closes a raw client's socket (no DISCONNECT) and waits until the server noticed. */
const drop = (server: Server, raw: RawClient, clientId: string) =>
  Effect.gen(function* () {
    raw.socket.destroy()
    yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.clientId === clientId))
  })

/** An MQTT.js watcher subscribed to `filter`, and its inbox. */
const watch = (server: Server, filter: string) =>
  Effect.gen(function* () {
    const watcher = yield* connectClient(server, { protocolVersion: 5, clientId: "watcher" })
    yield* call((cb) => watcher.subscribe(filter, { qos: 1 }, cb))
    return yield* messages(watcher)
  })

const will = (willDelayInterval: number): Packet.Will => ({
  topic: "will/x",
  payload: text("gone"),
  qos: 1,
  retain: false,
  properties: { willDelayInterval, contentType: "text/plain" }
})

describe("MQTT 5 sessions", () => {
  it.effect("a session outlives its connection for its expiry interval, then it is gone", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const props = { properties: { sessionExpiryInterval: 30 } }
      const [first] = yield* connect5(server, { clientId: "s", ...props })
      yield* drop(server, first, "s")
      yield* TestClock.adjust("29 seconds")
      const [second, resumed] = yield* connect5(server, { clientId: "s", clean: false, ...props })
      assert.isTrue(resumed.sessionPresent)
      yield* drop(server, second, "s")
      yield* TestClock.adjust("30 seconds")
      const [, expired] = yield* connect5(server, { clientId: "s", clean: false, ...props })
      assert.isFalse(expired.sessionPresent)
    }).pipe(withServer)
  )

  it.effect("DISCONNECT may shorten the expiry interval, but not set one after CONNECT said 0 [MQTT-3.14.2-2]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [shorten] = yield* connect5(server, { clientId: "a", properties: { sessionExpiryInterval: 60 } })
      yield* shorten.send({ _tag: "Disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
      yield* shorten.closed
      const [, after] = yield* connect5(server, { clientId: "a", clean: false })
      assert.isFalse(after.sessionPresent)

      const [extend] = yield* connect5(server, { clientId: "b" })
      yield* extend.send({ _tag: "Disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 60 } })
      assert.strictEqual(((yield* extend.next) as { reasonCode: number }).reasonCode, 0x82)
      const violation = yield* server.waitFor(ServerEvent.is("ProtocolViolation"))
      assert.strictEqual(violation.spec, "MQTT-3.14.2-2")
    }).pipe(withServer)
  )

  it.effect("a will with a delay is published when the delay has passed, with its properties", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const inbox = yield* watch(server, "will/#")
      const [raw] = yield* connect5(server, {
        clientId: "w",
        will: will(10),
        properties: { sessionExpiryInterval: 100 }
      })
      yield* drop(server, raw, "w")
      yield* TestClock.adjust("9 seconds")
      // Nothing yet: the next message is a marker published now.
      yield* server.publish("will/marker", "m", { qos: 1 })
      assert.strictEqual((yield* Queue.take(inbox)).topic, "will/marker")
      yield* TestClock.adjust("1 second")
      const message = yield* Queue.take(inbox)
      assert.deepStrictEqual(
        [message.topic, message.payload, message.packet.properties?.contentType],
        ["will/x", "gone", "text/plain"]
      )
    }).pipe(withServer)
  )

  it.effect("a will with a delay is not published when the client resumes its session in time", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const inbox = yield* watch(server, "will/#")
      const props = { properties: { sessionExpiryInterval: 100 } }
      const [raw] = yield* connect5(server, { clientId: "w", will: will(10), ...props })
      yield* drop(server, raw, "w")
      yield* TestClock.adjust("5 seconds")
      yield* connect5(server, { clientId: "w", clean: false, ...props })
      yield* TestClock.adjust("60 seconds")
      yield* server.publish("will/marker", "m", { qos: 1 })
      assert.strictEqual((yield* Queue.take(inbox)).topic, "will/marker")
    }).pipe(withServer)
  )

  it.effect("a will with a delay is published when the session ends first", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const inbox = yield* watch(server, "will/#")
      const [raw] = yield* connect5(server, {
        clientId: "w",
        will: will(300),
        properties: { sessionExpiryInterval: 5 }
      })
      yield* drop(server, raw, "w")
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* Queue.take(inbox)).topic, "will/x")
    }).pipe(withServer)
  )

  it.effect("DISCONNECT with reason 0x04 publishes the will", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const inbox = yield* watch(server, "will/#")
      const [raw] = yield* connect5(server, { clientId: "w", will: will(0) })
      yield* raw.send({ _tag: "Disconnect", reasonCode: 0x04 })
      assert.strictEqual((yield* Queue.take(inbox)).payload, "gone")
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.clientId === "w"))
      assert.deepStrictEqual([closed.reason, closed.willPublished], ["ClientDisconnect", true])
    }).pipe(withServer)
  )
})
