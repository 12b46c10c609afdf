import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Config, loadConfig, MqttServer, ServerEvent, start } from "@mqttest/server"
import { Effect } from "effect"
import { connectPacket, rawClient } from "./helpers.js"

/** A config file in a fresh temporary directory, removed with the scope. */
const configFile = (content: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-config-"))
      const file = Path.join(dir, "mqttest.json")
      Fs.writeFileSync(file, content)
      return file
    }),
    (file) => Effect.sync(() => Fs.rmSync(Path.dirname(file), { recursive: true, force: true }))
  )

describe("config files", () => {
  it.effect("a JSON file sets behaviour (decoded with the same Schema as library objects)", () =>
    Effect.gen(function* () {
      const file = yield* configFile(
        JSON.stringify({
          ports: 0,
          clientIdPrefix: { prefix: "test-" },
          rules: [{ clientId: "test-slow", ackDelay: 1000 }]
        })
      )
      const config = yield* Config.loadFile(file)
      const server = yield* MqttServer.make(config)
      const raw = yield* rawClient(server)
      yield* raw.send(connectPacket({ clientId: "other" }))
      assert.deepStrictEqual(yield* raw.next, { _tag: "Connack", sessionPresent: false, reasonCode: 2 })
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"))
      assert.strictEqual(fault.fault, "clientIdPrefix")
    })
  )

  it.effect("an unknown option is an error naming the file and the option", () =>
    Effect.gen(function* () {
      const file = yield* configFile(JSON.stringify({ ackDelya: 5 }))
      const error = yield* Effect.flip(Config.loadFile(file))
      assert.strictEqual(error._tag, "ConfigFileError")
      assert.include(error.message, file)
      assert.include(error.message, "ackDelya")
    })
  )

  it.effect("a wrong type is an error naming the option", () =>
    Effect.gen(function* () {
      const file = yield* configFile(JSON.stringify({ maxPackets: "three" }))
      const error = yield* Effect.flip(Config.loadFile(file))
      assert.include(error.message, "maxPackets")
    })
  )

  it.effect("a file that is not JSON, or missing, is an error", () =>
    Effect.gen(function* () {
      const file = yield* configFile("{ not json")
      assert.include((yield* Effect.flip(Config.loadFile(file))).message, "not JSON")
      assert.include((yield* Effect.flip(Config.loadFile(`${file}.missing`))).message, "ENOENT")
    })
  )

  it("the Promise API loads a config file and reconfigures a running server", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-config-"))
    const file = Path.join(dir, "mqttest.json")
    Fs.writeFileSync(file, JSON.stringify({ ports: 0, maxPackets: 10 }))
    try {
      await using server = await start(await loadConfig(file))
      await server.configure({ ackDelay: { puback: 50 } })
      const changed = await server.waitFor(ServerEvent.is("BehaviorChanged"))
      assert.deepStrictEqual(changed.options, ["ackDelay"])
      await server.configure({ maxTime: -1 }).then(
        () => assert.fail("a negative maxTime must be refused"),
        (error: Error) => assert.include(error.message, "maxTime")
      )
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
