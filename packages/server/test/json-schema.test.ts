/**
 * The JSON Schemas that @mqttest/server ships, checked with a standard
 * validator (Ajv, draft 2020-12) the way a user in another language would:
 * real dump lines and config files pass, broken ones fail.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Config, Dump, MqttServer, ServerEvent } from "@mqttest/server"
import Ajv2020 from "ajv/dist/2020.js"
import addFormats from "ajv-formats"
import { Effect } from "effect"
import { connectClient } from "./helpers.js"

const shipped = (name: string) =>
  JSON.parse(Fs.readFileSync(Path.join(import.meta.dirname, "..", name), "utf8")) as Record<string, unknown>

const validator = (schema: Record<string, unknown>) => {
  const ajv = new Ajv2020.default({ strict: false, allErrors: true })
  addFormats.default(ajv)
  return ajv.compile(schema)
}

describe("shipped JSON Schemas", () => {
  it("are generated from the Schemas (npm run json-schemas) and are standalone draft 2020-12", () => {
    for (const [name, generated] of [
      ["dump.schema.json", Dump.jsonSchema()],
      ["config.schema.json", Config.jsonSchema()]
    ] as const) {
      const schema = shipped(name)
      assert.deepStrictEqual(schema, JSON.parse(JSON.stringify(generated)), `${name} is out of date`)
      assert.strictEqual(schema.$schema, "https://json-schema.org/draft/2020-12/schema")
    }
  })

  it("config.schema.json states the defaults the server uses", () => {
    const schema = shipped("config.schema.json") as { properties: Record<string, { default?: unknown }> }
    const { ports, ...resolved } = Config.resolve({}) as unknown as Record<string, unknown> & {
      readonly ports: { readonly from: number; readonly to: number }
    }
    const stated = Object.entries(schema.properties).filter(([, property]) => "default" in property)
    // Every server option with a default says so (14 of them), the port range included.
    assert.strictEqual(stated.length, 14)
    for (const [key, property] of stated) {
      const used = key === "ports" ? `${ports.from}-${ports.to}` : resolved[key]
      assert.deepStrictEqual(used, property.default, key)
    }
    const capabilities = (schema.properties.capabilities as { properties: Record<string, { default?: unknown }> })
      .properties
    for (const [key, property] of Object.entries(capabilities)) {
      if ("default" in property) {
        assert.deepStrictEqual((resolved.capabilities as Record<string, unknown>)[key], property.default, key)
      }
    }
  })

  it.effect("dump.schema.json accepts every line of a real dump and refuses broken ones", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-schema-"))
      const file = Path.join(dir, "dump.jsonl")
      yield* Effect.gen(function* () {
        const server = yield* MqttServer.make({ ports: 0, dumps: [file], dumpDecode: "json" })
        const client = yield* connectClient(server, { clientId: "schema", protocolVersion: 5 })
        yield* Effect.promise(() => client.subscribeAsync("t", { qos: 1 }))
        yield* Effect.promise(() =>
          client.publishAsync("t", JSON.stringify({ x: 1 }), { qos: 1, properties: { userProperties: { a: "b" } } })
        )
        yield* Effect.promise(() => client.publishAsync("t", Buffer.from([0xff, 0x00]), { qos: 2 }))
        yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Pubcomp"))
        yield* server.stop
      }).pipe(Effect.scoped)
      const lines = Fs.readFileSync(file, "utf8").trim().split("\n")
      Fs.rmSync(dir, { recursive: true, force: true })
      assert.isAbove(lines.length, 8)
      const validate = validator(shipped("dump.schema.json"))
      for (const line of lines) assert.isTrue(validate(JSON.parse(line)), `${line}\n${JSON.stringify(validate.errors)}`)
      const entry = JSON.parse(lines[0]!) as Record<string, unknown>
      assert.isFalse(validate({ ...entry, direction: "sideways" }))
      assert.isFalse(validate({ ...entry, unexpected: true }))
      const { connection: _connection, ...withoutConnection } = entry
      assert.isFalse(validate(withoutConnection))
    })
  )

  it("config.schema.json accepts valid config files and refuses invalid ones, as the loader does", () => {
    const validate = validator(shipped("config.schema.json"))
    const valid: ReadonlyArray<unknown> = [
      {},
      { ports: "1883-2000", host: "::1", ackDelay: { fixed: 300, times: 2 } },
      { ackDelay: { puback: 100, suback: { random: [10, 20] } }, maxPackets: [null, 3], connackDelay: null },
      { credentials: { username: "u", password: { hex: "00ff" }, reasonCode: { mqtt3: 5, mqtt5: 0x87 } } },
      { rules: [{ clientId: { regex: "^sensor-" }, network: { latency: { exponential: 10, factor: 2 } } }] },
      { packetFaults: { faults: [{ packet: "Puback", action: "reorder", every: 2, maxHold: 500 }] } },
      { dumps: ["out-{c}.jsonl"], dumpDecode: { command: "cat", timeout: 100 }, capabilities: { maximumQoS: 1 } }
    ]
    const invalid: ReadonlyArray<unknown> = [
      { ackDelai: 5 },
      { ackDelay: "x" },
      { ackDelay: { fixd: 300 } },
      { ports: "abc" },
      { ports: 70000 },
      { credentials: { username: "u", reasonCode: 0x9e } },
      { credentials: { username: "u", reasonCode: { mqtt3: 0x87 } } },
      { refuseSubscribe: { topics: ["t"], reasonCode: 0x90 } },
      { rules: [{ clientId: { regex: "(" } }] },
      { packetFaults: { faults: [{ packet: "Puback", action: "explode" }] } },
      { network: { latency: { exponential: 10, factor: "Infinity" } } },
      { capabilities: { maximumQoS: 3 } }
    ]
    for (const config of valid) {
      assert.isTrue(validate(config), `${JSON.stringify(config)}: ${JSON.stringify(validate.errors)}`)
      assert.isTrue(Effect.runSync(Effect.exit(Config.decodeUnknown(config)))._tag === "Success")
    }
    for (const config of invalid) {
      assert.isFalse(validate(config), `accepted ${JSON.stringify(config)}`)
      assert.isTrue(Effect.runSync(Effect.exit(Config.decodeUnknown(config)))._tag === "Failure")
    }
  })
})
