import { assert, it } from "@effect/vitest"
import { Policy } from "@mqttest/behavior"
import { Listener, MqttServer, ServerEvent } from "@mqttest/server"
import { SessionStore } from "@mqttest/session"
import { Effect, Layer } from "effect"
import mqtt from "mqtt"

// Sessions that start with the retained message a device reads when it boots.
const storeWithConfig = Layer.effect(
  SessionStore.SessionStore,
  Effect.map(SessionStore.makeMemory, (store) => {
    const payload = new TextEncoder().encode('{"interval":5}')
    store.retain({ topic: "devices/d1/config", payload, qos: 1, retain: true, receivedAt: 0 })
    return store
  })
)

const server = MqttServer.layerServer().pipe(
  Layer.provide(
    Layer.mergeAll(Policy.layer({ refuseSubscribe: { topics: ["admin/#"] } }), storeWithConfig, Listener.layerMemory)
  )
)

it.effect("a server on the test's own policy, sessions and listener", () =>
  Effect.gen(function* () {
    const server = yield* MqttServer.MqttServer
    const client = yield* Effect.acquireRelease(
      Effect.callback<mqtt.MqttClient, Error>((resume) => {
        const client = new mqtt.MqttClient(() => server.connectStream(), { clientId: "d1", protocolVersion: 5 })
        client.once("connect", () => resume(Effect.succeed(client)))
        client.once("error", (error) => resume(Effect.fail(error)))
      }),
      (client) => Effect.promise(() => client.endAsync())
    )
    const config = new Promise<string>((resolve) => client.once("message", (_topic, payload) => resolve(`${payload}`)))
    client.subscribe(["devices/d1/config", "admin/#"], { qos: 1 })
    assert.strictEqual(yield* Effect.promise(() => config), '{"interval":5}')
    const suback = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback", { clientId: "d1" }))
    assert.deepStrictEqual(suback.packet.reasonCodes, [1, 0x87])
  }).pipe(Effect.provide(server))
)
