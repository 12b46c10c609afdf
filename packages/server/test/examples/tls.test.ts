import { assert, it } from "@effect/vitest"
import { Certificates, MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import mqtt from "mqtt"

// A throw-away CA and a server certificate for localhost, 127.0.0.1 and ::1.
const certs = Effect.runSync(Certificates.make())

const server = MqttServer.layerTest({ tls: { cert: certs.server.cert, key: certs.server.key, ports: 0 } })

it.effect("MQTT.js over mqtts://, trusting the test's CA", () =>
  Effect.gen(function* () {
    const server = yield* MqttServer.MqttServer
    const secure = server.urls.find((url) => url.startsWith("mqtts://"))!
    const client = yield* Effect.acquireRelease(
      Effect.callback<mqtt.MqttClient, Error>((resume) => {
        const client = mqtt.connect(secure, { ca: certs.ca.cert, clientId: "secure", reconnectPeriod: 0 })
        client.once("connect", () => resume(Effect.succeed(client)))
        client.once("error", (error) => resume(Effect.fail(error)))
      }),
      (client) => Effect.promise(() => client.endAsync())
    )
    yield* Effect.promise(() => client.publishAsync("rooms/hall", "19.0", { qos: 1 }))
    const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
    assert.strictEqual(opened.transport, "tls")
  }).pipe(Effect.provide(server))
)
