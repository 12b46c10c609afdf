/**
 * MQTT on a Unix domain socket, with MQTT.js (`mqtt+unix://`) and
 * mosquitto_pub (`--unix`), and what the listener does with the path.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { MqttServer, ServerEvent } from "@mqttest/server"
import { Effect } from "effect"
import { call, connectAt } from "./helpers.js"

describe("Unix domain sockets", () => {
  it.live("MQTT.js (mqtt+unix://) and mosquitto_pub --unix on a socket file only its owner may use", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-unix-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const path = Path.join(dir, "mqtt.sock")
      const server = yield* MqttServer.make({ host: "127.0.0.1", ports: 0, unix: path })
      assert.strictEqual(server.urls[1], `mqtt+unix://${path}`)
      assert.strictEqual(Fs.statSync(path).mode & 0o777, 0o600)
      const client = yield* connectAt(server.urls[1]!, { clientId: "local" })
      yield* call((cb) => client.subscribe("local/t", { qos: 1 }, cb))
      const received = new Promise<string>((resolve) => client.once("message", (_t, payload) => resolve(`${payload}`)))
      const published = yield* Effect.callback<number>((resume) => {
        ChildProcess.execFile(
          "mosquitto_pub",
          ["--unix", path, "-t", "local/t", "-m", "over unix", "-q", "1"],
          (error) => resume(Effect.succeed(error === null ? 0 : 1))
        )
      })
      assert.strictEqual(published, 0)
      assert.strictEqual(yield* Effect.promise(() => received), "over unix")
      const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
      assert.strictEqual(opened.transport, "unix")
    })
  )

  it.effect("a left-over socket file is replaced; any other file at the path is an error, and kept", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-unix-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const file = Path.join(dir, "notes.txt")
      Fs.writeFileSync(file, "keep me")
      const error = yield* Effect.flip(MqttServer.make({ ports: 0, unix: file }))
      assert.strictEqual(
        error.message,
        `cannot listen on the Unix socket ${file}: ${file} exists and is not a socket: not replaced`
      )
      assert.strictEqual(Fs.readFileSync(file, "utf8"), "keep me")
      const path = Path.join(dir, "stale.sock")
      const stale = Net.createServer().listen(path)
      yield* Effect.promise(() => new Promise<void>((resolve) => stale.once("listening", () => resolve())))
      // A crashed server leaves its socket file behind: simulate it (close without removing the file).
      const server = yield* MqttServer.make({ ports: 0, unix: path })
      stale.close()
      assert.strictEqual(server.urls[1], `mqtt+unix://${path}`)
    })
  )
})
