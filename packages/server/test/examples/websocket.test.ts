import { assert, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import mqtt from "mqtt"

it.effect("MQTT.js over ws://, as a browser client would connect", () =>
  Effect.gen(function* () {
    const server = yield* MqttServer.MqttServer
    const ws = server.urls.find((url) => url.startsWith("ws://"))! // ws://127.0.0.1:<port>/mqtt
    const client = yield* Effect.acquireRelease(
      Effect.callback<mqtt.MqttClient, Error>((resume) => {
        const client = mqtt.connect(ws, { clientId: "browser", reconnectPeriod: 0 })
        client.once("connect", () => resume(Effect.succeed(client)))
        client.once("error", (error) => resume(Effect.fail(error)))
      }),
      (client) => Effect.promise(() => client.endAsync())
    )
    yield* Effect.promise(() => client.subscribeAsync("alerts/#"))
    const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
    assert.strictEqual(opened.transport, "ws")
  }).pipe(Effect.provide(MqttServer.layerTest({ ws: { ports: 0 } })))
)
