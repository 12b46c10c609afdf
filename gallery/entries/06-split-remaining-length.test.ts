/**
 * mqtt-packet 6.6.0 → 6.7.0 (under MQTT.js 4.2.6): a Remaining Length split across two reads.
 *
 * Symptom: a PUBLISH whose two-byte Remaining Length arrives in two TCP segments (the first ends
 * after the length's first byte, the rest comes 50 ms later) makes the parser fail with "Invalid
 * length"; it then reads the rest of the packet as new packets ("Not supported"), and the stream
 * is lost. 6.7.0 waits for the whole length.
 * https://github.com/mqttjs/mqtt-packet/issues/95, fixed by https://github.com/mqttjs/mqtt-packet/pull/96
 *
 * Recipe: the packet fault `{ packet: "Publish", action: "split", at: 2, pause: 50, nth: 1 }` and
 * a 200-byte payload (Remaining Length 203: two bytes). MQTT.js 4.2.6 is installed twice, each
 * with its mqtt-packet (npm `overrides` in the workspace's package.json).
 */
import { createRequire } from "node:module"
import { start } from "@mqttest/server"
import { assert, describe, test } from "vitest"
import { type Client, ended, type MqttJs } from "../helpers.js"

const require = createRequire(import.meta.url)

/** MQTT.js 4.2.6 under an alias, and the version of mqtt-packet it loads. */
const mqttWith = (alias: string) => ({
  mqtt: require(alias) as MqttJs,
  parser: (
    require(require.resolve("mqtt-packet/package.json", { paths: [require.resolve(alias)] })) as { version: string }
  ).version
})

/** What the client reports of two PUBLISHes, the first split after its second byte. */
const receive = async (alias: string, until: (said: ReadonlyArray<string>) => boolean) => {
  await using server = await start({
    ports: 0,
    packetFaults: { faults: [{ packet: "Publish", action: "split", at: 2, pause: 50, nth: 1 }] }
  })
  const { mqtt } = mqttWith(alias)
  const client: Client = mqtt.connect(server.url, { reconnectPeriod: 0 })
  try {
    const said: Array<string> = []
    const done = new Promise<void>((resolve) => {
      const note = (line: string) => {
        said.push(line)
        if (until(said)) resolve()
      }
      client.on("error", (error: Error) => note(`error: ${error.message}`))
      client.on("message", (topic: string, payload: Buffer) => note(`message ${topic}: ${payload.length} bytes`))
    })
    await new Promise<void>((resolve) => client.once("connect", () => resolve()))
    await new Promise<void>((resolve) => client.subscribe("meter", { qos: 0 }, () => resolve()))
    await server.publish("meter", "z".repeat(200))
    await server.publish("meter", "after")
    await done
    return said
  } finally {
    await ended(client)
  }
}

describe("mqtt-packet 6.6.0 → 6.7.0 under MQTT.js 4.2.6: a Remaining Length split across two reads", () => {
  test("the two installs load the two parsers", () => {
    assert.strictEqual(mqttWith("mqtt-4-2-6-packet-6-6-0").parser, "6.6.0")
    assert.strictEqual(mqttWith("mqtt-4-2-6-packet-6-7-0").parser, "6.7.0")
  })

  test("6.6.0 (buggy): Invalid length, then the rest read as garbage", async () => {
    const said = await receive("mqtt-4-2-6-packet-6-6-0", (lines) => lines.length === 2)
    assert.deepStrictEqual(said, ["error: Invalid length", "error: Not supported"])
  })

  test("6.7.0 (fixed): both messages, whole", async () => {
    const said = await receive("mqtt-4-2-6-packet-6-7-0", (lines) => lines.length === 2)
    assert.deepStrictEqual(said, ["message meter: 200 bytes", "message meter: 5 bytes"])
  })
})
