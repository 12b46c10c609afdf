import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import mqtt from "mqtt"

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-"))
const socket = Path.join(dir, "mqtt.sock")

it.effect("MQTT.js over a Unix domain socket", () =>
  Effect.gen(function* () {
    const server = yield* MqttServer.MqttServer
    assert.strictEqual(server.urls[1], `mqtt+unix://${socket}`)
    const client = yield* Effect.acquireRelease(
      Effect.callback<mqtt.MqttClient, Error>((resume) => {
        const client = mqtt.connect(server.urls[1]!, { clientId: "local", reconnectPeriod: 0 })
        client.once("connect", () => resume(Effect.succeed(client)))
        client.once("error", (error) => resume(Effect.fail(error)))
      }),
      (client) => Effect.promise(() => client.endAsync())
    )
    yield* Effect.promise(() => client.publishAsync("jobs/1", "done", { qos: 1 }))
    const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
    assert.strictEqual(opened.transport, "unix")
  }).pipe(
    Effect.provide(MqttServer.layerTest({ unix: socket })),
    Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  )
)
