import { assert, describe, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Queue } from "effect"
import { call, collect, connectClient, messages } from "./helpers.js"

const withServer = Effect.provide(MqttServer.layerTest())

describe("publish and subscribe (MQTT.js, 3.1.1)", () => {
  for (const qos of [0, 1, 2] as const) {
    it.effect(`delivers a QoS ${qos} message with the complete flow`, () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const sub = yield* connectClient(server, { clientId: "sub" })
        const inbox = yield* messages(sub)
        const granted = yield* call<Array<{ qos: number }>>((cb) => sub.subscribe("t/q", { qos }, cb))
        assert.strictEqual(granted[0]!.qos, qos)
        const pub = yield* connectClient(server, { clientId: "pub" })
        yield* call((cb) => pub.publish("t/q", `qos${qos}`, { qos }, cb))
        const message = yield* Queue.take(inbox)
        assert.strictEqual(message.payload, `qos${qos}`)
        assert.strictEqual(message.packet.qos, qos)
        assert.isFalse(message.packet.retain)
        if (qos === 1) {
          yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Puback", { clientId: "pub" }))
          yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Puback", { clientId: "sub" }))
        }
        if (qos === 2) {
          // Publisher side: PUBLISH → PUBREC → PUBREL → PUBCOMP.
          yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Pubrec", { clientId: "pub" }))
          yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Pubrel", { clientId: "pub" }))
          yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Pubcomp", { clientId: "pub" }))
          // Subscriber side: the server waits for PUBREC, sends PUBREL, gets PUBCOMP.
          yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Pubrec", { clientId: "sub" }))
          yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Pubrel", { clientId: "sub" }))
          yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Pubcomp", { clientId: "sub" }))
        }
      }).pipe(withServer)
    )
  }

  it.effect("downgrades delivery to the granted QoS", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const sub = yield* connectClient(server, { clientId: "sub" })
      const inbox = yield* messages(sub)
      yield* call((cb) => sub.subscribe("t", { qos: 0 }, cb))
      const pub = yield* connectClient(server, { clientId: "pub" })
      yield* call((cb) => pub.publish("t", "x", { qos: 2 }, cb))
      assert.strictEqual((yield* Queue.take(inbox)).packet.qos, 0)
    }).pipe(withServer)
  )

  it.effect("matches + and # wildcards and keeps $ topics from leading wildcards", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const sub = yield* connectClient(server, { clientId: "sub" })
      const inbox = yield* messages(sub)
      yield* call((cb) => sub.subscribe({ "sport/+/player": { qos: 0 }, "#": { qos: 0 }, "$SYS/x": { qos: 0 } }, cb))
      const pub = yield* connectClient(server, { clientId: "pub" })
      for (const topic of ["$SYS/y", "sport/tennis/player", "$SYS/x", "other"]) {
        yield* call((cb) => pub.publish(topic, topic, { qos: 1 }, cb))
      }
      const received = [yield* Queue.take(inbox), yield* Queue.take(inbox), yield* Queue.take(inbox)]
      // $SYS/y matches nothing ("#" does not match $ topics); sport/tennis/player once (overlap: one delivery).
      assert.deepStrictEqual(
        received.map((m) => m.topic),
        ["sport/tennis/player", "$SYS/x", "other"]
      )
      yield* call((cb) => pub.publish("last", "end", { qos: 1 }, cb))
      assert.strictEqual((yield* Queue.take(inbox)).topic, "last")
    }).pipe(withServer)
  )

  it.effect("delivers once at the highest QoS of overlapping subscriptions", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const sub = yield* connectClient(server, { clientId: "sub" })
      const inbox = yield* messages(sub)
      yield* call((cb) => sub.subscribe({ "a/#": { qos: 0 }, "a/+": { qos: 2 }, z: { qos: 0 } }, cb))
      const pub = yield* connectClient(server, { clientId: "pub" })
      yield* call((cb) => pub.publish("a/b", "once", { qos: 2 }, cb))
      yield* call((cb) => pub.publish("z", "marker", { qos: 0 }, cb))
      const first = yield* Queue.take(inbox)
      assert.deepStrictEqual([first.topic, first.packet.qos], ["a/b", 2])
      // The next message is the marker: no second copy of a/b came in between.
      assert.strictEqual((yield* Queue.take(inbox)).topic, "z")
      const sent = yield* collect(server, ServerEvent.isPacket("PacketSent", "Publish", { clientId: "sub" }), 2)
      assert.deepStrictEqual(
        sent.map((e) => e.packet.topic),
        ["a/b", "z"]
      )
    }).pipe(withServer)
  )

  it.effect("unsubscribes", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const sub = yield* connectClient(server, { clientId: "sub" })
      const inbox = yield* messages(sub)
      yield* call((cb) => sub.subscribe(["x", "y"], { qos: 1 }, cb))
      yield* call((cb) => sub.unsubscribe("x", cb))
      yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Unsuback"))
      const pub = yield* connectClient(server, { clientId: "pub" })
      yield* call((cb) => pub.publish("x", "gone", { qos: 1 }, cb))
      yield* call((cb) => pub.publish("y", "kept", { qos: 1 }, cb))
      assert.strictEqual((yield* Queue.take(inbox)).topic, "y")
    }).pipe(withServer)
  )
})

describe("retained messages", () => {
  it.effect("are stored, replaced, delivered on subscribe with retain set, and cleared by an empty payload", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const pub = yield* connectClient(server, { clientId: "pub" })
      yield* call((cb) => pub.publish("r/a", "old", { qos: 1, retain: true }, cb))
      yield* call((cb) => pub.publish("r/a", "new", { qos: 1, retain: true }, cb))
      yield* call((cb) => pub.publish("r/b", "b", { qos: 0, retain: true }, cb))
      yield* call((cb) => pub.publish("r/b", "", { qos: 1, retain: true }, cb))
      const sub = yield* connectClient(server, { clientId: "sub" })
      const inbox = yield* messages(sub)
      yield* call((cb) => sub.subscribe("r/#", { qos: 1 }, cb))
      const retained = yield* Queue.take(inbox)
      assert.deepStrictEqual([retained.topic, retained.payload, retained.packet.retain], ["r/a", "new", true])
      // A live message on the same subscription has retain cleared [MQTT-3.3.1-9].
      yield* call((cb) => pub.publish("r/a", "live", { qos: 1, retain: true }, cb))
      const live = yield* Queue.take(inbox)
      assert.deepStrictEqual([live.payload, live.packet.retain], ["live", false])
      assert.strictEqual(Queue.sizeUnsafe(inbox), 0)
    }).pipe(withServer)
  )
})
