import { assert, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import mqtt from "mqtt"

it.effect("no port, no network: the client connects through a stream", () =>
  Effect.gen(function* () {
    const server = yield* MqttServer.MqttServer
    const client = yield* Effect.acquireRelease(
      Effect.callback<mqtt.MqttClient, Error>((resume) => {
        const client = new mqtt.MqttClient(() => server.connectStream(), { clientId: "inside", protocolVersion: 5 })
        client.once("connect", () => resume(Effect.succeed(client)))
        client.once("error", (error) => resume(Effect.fail(error)))
      }),
      (client) => Effect.promise(() => client.endAsync())
    )
    yield* Effect.promise(() => client.publishAsync("rooms/kitchen", "21.5", { qos: 1 }))
    const publish = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Publish", { clientId: "inside" }))
    assert.strictEqual(publish.packet.topic, "rooms/kitchen")
  }).pipe(Effect.provide(MqttServer.layerMemory()))
)
