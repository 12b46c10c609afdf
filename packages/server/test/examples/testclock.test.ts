import { assert, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import mqtt from "mqtt"

it.effect("a 30 s PUBACK delay takes no real time under TestClock", () =>
  Effect.gen(function* () {
    const server = yield* MqttServer.MqttServer
    const client = yield* Effect.acquireRelease(
      Effect.promise(() => mqtt.connectAsync(server.url, { clientId: "slow-ack" })),
      (client) => Effect.promise(() => client.endAsync())
    )
    const publish = yield* Effect.forkChild(Effect.promise(() => client.publishAsync("t", "x", { qos: 1 })))
    // Wait until the server has received the PUBLISH and registered the delay ...
    yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay"))
    // ... then move the clock: the PUBACK goes out at once.
    yield* TestClock.adjust("30 seconds")
    yield* Fiber.join(publish)
    const puback = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Puback"))
    assert.strictEqual(puback.clientId, "slow-ack")
  }).pipe(Effect.provide(MqttServer.layerTest({ ackDelay: { puback: 30_000 } })))
)
