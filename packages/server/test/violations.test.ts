import type * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Queue } from "effect"
import { call, connectClient, connectPacket, messages, rawClient, type Server, text } from "./helpers.js"

const withServer = Effect.provide(MqttServer.layerTest())

/** Opens a raw connection, sends `packets` (or bytes), and returns the violation it caused once it is closed. */
const violate = (server: Server, steps: ReadonlyArray<Packet.Packet | Uint8Array>) =>
  Effect.gen(function* () {
    const raw = yield* rawClient(server)
    const localPort = (raw.socket as Net.Socket).localPort
    for (const step of steps) yield* step instanceof Uint8Array ? raw.sendBytes(step) : raw.send(step)
    yield* raw.closed
    const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened", (e) => e.remotePort === localPort))
    const violation = yield* server.waitFor(
      ServerEvent.is("ProtocolViolation", (e) => e.connection === opened.connection)
    )
    const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.connection === opened.connection))
    assert.strictEqual(closed.reason, "ProtocolViolation")
    return violation
  })

describe("protocol violations", () => {
  it.effect("a first packet other than CONNECT [MQTT-3.1.0-1]", () =>
    Effect.gen(function* () {
      const violation = yield* violate(yield* MqttServer.MqttServer, [{ _tag: "Pingreq" }])
      assert.strictEqual(violation.spec, "MQTT-3.1.0-1")
      assert.include(violation.message, "PINGREQ")
    }).pipe(withServer)
  )

  it.effect("a second CONNECT [MQTT-3.1.0-2]", () =>
    Effect.gen(function* () {
      const violation = yield* violate(yield* MqttServer.MqttServer, [connectPacket(), connectPacket()])
      assert.strictEqual(violation.spec, "MQTT-3.1.0-2")
    }).pipe(withServer)
  )

  it.effect("a PUBLISH to a topic name with wildcards [MQTT-3.3.2-2]", () =>
    Effect.gen(function* () {
      const violation = yield* violate(yield* MqttServer.MqttServer, [
        connectPacket(),
        { _tag: "Publish", topic: "a/#", payload: text("x"), qos: 1, packetId: 1, retain: false, dup: false }
      ])
      assert.strictEqual(violation.spec, "MQTT-3.3.2-2")
    }).pipe(withServer)
  )

  it.effect("malformed bytes: reserved fixed header flags [MQTT-2.2.2-1]", () =>
    Effect.gen(function* () {
      const violation = yield* violate(yield* MqttServer.MqttServer, [connectPacket(), new Uint8Array([0xc1, 0x00])])
      assert.strictEqual(violation.spec, "MQTT-2.2.2-1")
      assert.include(violation.message, "PINGREQ")
    }).pipe(withServer)
  )

  it.effect("malformed bytes before CONNECT: a reserved packet type", () =>
    Effect.gen(function* () {
      const violation = yield* violate(yield* MqttServer.MqttServer, [new Uint8Array([0x00, 0x00])])
      assert.include(violation.message, "invalid control packet type 0")
    }).pipe(withServer)
  )

  it.effect("server-only packets from a client", () =>
    Effect.gen(function* () {
      const violation = yield* violate(yield* MqttServer.MqttServer, [
        connectPacket(),
        { _tag: "Connack", sessionPresent: false, reasonCode: 0 }
      ])
      assert.include(violation.message, "CONNACK is sent by servers only")
    }).pipe(withServer)
  )

  it.effect("leave the server and other connections working", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const good = yield* connectClient(server, { clientId: "good" })
      const inbox = yield* messages(good)
      yield* call((cb) => good.subscribe("ok", { qos: 1 }, cb))
      yield* violate(server, [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])])
      yield* violate(server, [connectPacket({ clientId: "bad" }), new Uint8Array([0x30, 0x03, 0x00, 0x0a, 0x61])])
      yield* call((cb) => good.publish("ok", "still here", { qos: 1 }, cb))
      assert.strictEqual((yield* Queue.take(inbox)).payload, "still here")
      assert.strictEqual((yield* server.stats).openConnections, 1)
      // And new clients are still accepted.
      const late = yield* connectClient(server, { clientId: "late" })
      assert.isTrue(late.connected)
    }).pipe(withServer)
  )
})
