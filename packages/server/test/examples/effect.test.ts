import { assert, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import mqtt from "mqtt"

it.effect("the sensor publishes its reading at QoS 1", () =>
  Effect.gen(function* () {
    // A fresh server on a free port, closed when the test's scope ends.
    const server = yield* MqttServer.MqttServer
    const client = yield* Effect.acquireRelease(
      Effect.promise(() => mqtt.connectAsync(server.url, { clientId: "sensor-1" })),
      (client) => Effect.promise(() => client.endAsync())
    )
    yield* Effect.promise(() => client.publishAsync("sensors/1/temp", "21.5", { qos: 1 }))
    // Wait for what the server saw; no sleeps.
    const publish = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Publish", { clientId: "sensor-1" }))
    assert.strictEqual(publish.packet.topic, "sensors/1/temp")
    assert.strictEqual(new TextDecoder().decode(publish.packet.payload), "21.5")
    yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Puback", { clientId: "sensor-1" }))
  }).pipe(Effect.provide(MqttServer.layerTest()))
)
