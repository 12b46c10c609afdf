/**
 * MQTT.js ≤ 5.7.0 → 5.7.1: a refused subscription reported as granted.
 *
 * Symptom: the server refuses a subscription (SUBACK return code 0x80 at MQTT 3.1.1, reason code
 * 0x87 at MQTT 5); the subscribe callback gets no error, and a "granted" QoS of 128 (or 135).
 * https://github.com/mqttjs/MQTT.js/issues/1886, fixed by https://github.com/mqttjs/MQTT.js/pull/1887
 *
 * Recipe: `refuseSubscribe: { topics: ["private/#"] }`, then subscribe to private/data.
 */
import { start } from "@mqttest/server"
import { assert, describe, test } from "vitest"
import { connected, ended, release } from "../helpers.js"

const subscribe = async (alias: string, protocolVersion: 4 | 5) => {
  await using server = await start({ ports: 0, refuseSubscribe: { topics: ["private/#"] } })
  const client = await connected(await release(alias), server, { protocolVersion })
  try {
    return await new Promise<{ error: (Error & { code?: number }) | null; granted: ReadonlyArray<number> }>((resolve) =>
      client.subscribe("private/data", { qos: 1 }, (error, granted) =>
        resolve({ error, granted: (granted ?? []).map((g) => g.qos) })
      )
    )
  } finally {
    await ended(client)
  }
}

describe("MQTT.js 5.7.0 → 5.7.1: a refused subscription is reported as granted", () => {
  for (const [level, code] of [
    [4, 0x80],
    [5, 0x87]
  ] as const) {
    test(`5.7.0 (buggy), MQTT ${level === 4 ? "3.1.1" : "5"}: no error, granted QoS ${code}`, async () => {
      const { error, granted } = await subscribe("mqtt-5-7-0", level)
      assert.isNull(error)
      assert.deepStrictEqual(granted, [code])
    })

    test(`5.7.1 (fixed), MQTT ${level === 4 ? "3.1.1" : "5"}: the callback gets the refusal as an error`, async () => {
      const { error } = await subscribe("mqtt-5-7-1", level)
      assert.instanceOf(error, Error)
      assert.match(error!.message, /^Subscribe error: /)
      assert.strictEqual(error!.code, code)
    })
  }
})
