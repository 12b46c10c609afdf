import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Config, MqttServer, ServerEvent } from "@mqttest/server"
import { ConfigProvider, Effect, Config as EffectConfig, Exit, Layer, Scope } from "effect"
import { connectClient } from "./helpers.js"

/** Whether something accepts TCP connections at host:port. */
const accepts = (host: string, port: number) =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.createConnection({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

const ipv6Available = await new Promise<boolean>((resolve) => {
  const probe = Net.createServer()
  probe.once("error", () => resolve(false))
  probe.listen({ host: "::1", port: 0 }, () => probe.close(() => resolve(true)))
})

describe("listening", () => {
  it.effect("listens on 127.0.0.1 by default and reports it", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.make({ ports: 0 })
      assert.strictEqual(server.host, "127.0.0.1")
      assert.isAbove(server.port, 0)
      assert.strictEqual(server.url, `mqtt://127.0.0.1:${server.port}`)
      const listening = yield* server.waitFor(ServerEvent.is("Listening"))
      assert.deepStrictEqual([listening.host, listening.port], ["127.0.0.1", server.port])
      yield* connectClient(server)
    })
  )

  it.effect("gives two servers in parallel different ports, and closes a released server's port", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const [a, b] = yield* Effect.all([MqttServer.make({ ports: 0 }), MqttServer.make({ ports: 0 })]).pipe(
        Scope.provide(scope)
      )
      assert.notStrictEqual(a.port, b.port)
      assert.isTrue(yield* accepts(a.host, a.port))
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(yield* accepts(a.host, a.port))
      assert.isFalse(yield* accepts(b.host, b.port))
    })
  )

  it.effect("takes the first free port of a range", () =>
    Effect.gen(function* () {
      const first = yield* MqttServer.make({ ports: 0 })
      // A range starting at a port that is taken: the next one wins (if it is free on this machine).
      const range = `${first.port}-${Math.min(first.port + 20, 65535)}`
      const second = yield* MqttServer.make({ ports: range })
      assert.isAbove(second.port, first.port)
      assert.isAtMost(second.port, first.port + 20)
    })
  )

  it.effect("fails with a ListenError naming the range and the OS error when no port binds", () =>
    Effect.gen(function* () {
      const first = yield* MqttServer.make({ ports: 0 })
      const error = yield* Effect.flip(MqttServer.make({ ports: `${first.port}-${first.port}` }))
      assert.strictEqual(error._tag, "ListenError")
      assert.strictEqual(error._tag === "ListenError" ? error.from : undefined, first.port)
      assert.match(error.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1 at port ${first.port}: .*EADDRINUSE`))
    })
  )

  it.effect.skipIf(!ipv6Available)("listens on ::1 when asked (skipped where the machine has no IPv6 loopback)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.make({ host: "::1", ports: 0 })
      assert.strictEqual(server.url, `mqtt://[::1]:${server.port}`)
      const client = yield* connectClient(server, { clientId: "v6" })
      assert.isTrue(client.connected)
    })
  )

  it.effect("layerTest gives each test its own server", () =>
    Effect.gen(function* () {
      const ports = yield* Effect.all(
        [1, 2].map(() =>
          Effect.gen(function* () {
            return (yield* MqttServer.MqttServer).port
          }).pipe(Effect.provide(MqttServer.layerTest()))
        )
      )
      assert.strictEqual(new Set(ports).size, 2)
    })
  )

  it.effect("decoded config: a bad port range is a typed error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Config.decodeUnknown({ ports: "2000-1883" }))
      assert.match(error.message, /ends before it starts/)
      const ok = yield* Config.decodeUnknown({ ports: "1883-2000", host: "::1" })
      assert.deepStrictEqual(Config.resolve(ok).ports, { from: 1883, to: 2000 })
    })
  )
})

describe("MqttServer.layerConfig", () => {
  it.effect("reads the config through Effect's Config (here from a ConfigProvider)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      assert.isAbove(server.port, 0)
      const client = yield* connectClient(server, { clientId: "configured" })
      assert.isTrue(client.connected)
      yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
    }).pipe(
      Effect.provide(
        MqttServer.layerConfig(
          EffectConfig.all({ ports: EffectConfig.Int("MQTT_PORT"), host: EffectConfig.String("MQTT_HOST") })
        ).pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ MQTT_PORT: 0, MQTT_HOST: "127.0.0.1" })))
        )
      )
    )
  )
})
