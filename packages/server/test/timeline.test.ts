/**
 * The terminal timeline of a dump (and of live events): one line per packet
 * or event, in order, with the direction, the packet's key fields, and
 * faults and violations marked; ANSI colours only when asked for.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { MqttServer, Timeline } from "@mqttest/server"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { call, connectClient } from "./helpers.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-timeline-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** A short run with a fault, dumped to `dir/run.jsonl`. */
const run = (dir: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* MqttServer.make({ ports: 0, dumps: [`${dir}/run.jsonl`], ackDelay: 20 })
      const client = yield* connectClient(server, { clientId: "sensor-1", protocolVersion: 5 })
      yield* call((cb) => client.subscribe("a/#", { qos: 1 }, cb))
      yield* call((cb) => client.publish("a/b", "21.5", { qos: 1 }, cb))
      yield* server.stop
    })
  )

describe("Timeline", () => {
  it.live("a dump as lines: time, gap, connection, arrow, packet summary, faults; in order", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* run(dir)
      const lines = yield* Stream.runCollect(Timeline.fromDump(`${dir}/run.jsonl`, { color: false }))
      const expected = [
        /^\d\d:\d\d:\d\d\.\d{6} +\+0\.000ms {2}c0 +○ opened from 127\.0\.0\.1:\d+$/,
        /c0 sensor-1 +→ CONNECT v5 id="sensor-1" keepAlive=\d+ clean$/,
        /c0 sensor-1 +← CONNACK 0x00$/,
        /c0 sensor-1 +→ SUBSCRIBE id=\d+ "a\/#" q1$/,
        /c0 sensor-1 +⚡ ackDelay: SUBACK delayed by 20 ms$/,
        /c0 sensor-1 +← SUBACK id=\d+ \[0x01\]$/,
        /c0 sensor-1 +→ PUBLISH q1 id=\d+ "a\/b" 4 B$/
      ]
      for (const [i, pattern] of expected.entries()) assert.match(lines[i] ?? "", pattern, `line ${i}`)
      // The delayed SUBACK shows as a gap of at least the delay.
      const gap = Number(/\+(\d+\.\d+)ms/.exec(lines[5]!)![1])
      assert.isAtLeast(gap, 19)
      assert.isTrue(lines.every((line) => !line.includes("\u001b[")))
      assert.match(lines.at(-1)!, /● closed: ServerStopped$/)
    })
  )

  it.live("with colour: each line in its kind's ANSI colour (in, out, fault)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* run(dir)
      const lines = yield* Stream.runCollect(Timeline.fromDump(`${dir}/run.jsonl`, { color: true }))
      assert.isTrue(lines.some((line) => line.startsWith("\u001b[36m") && line.includes("→ CONNECT")))
      assert.isTrue(lines.some((line) => line.startsWith("\u001b[32m") && line.includes("← CONNACK")))
      assert.isTrue(lines.some((line) => line.startsWith("\u001b[33m") && line.includes("⚡ ackDelay")))
      assert.isTrue(lines.every((line) => line.endsWith("\u001b[0m")))
    })
  )
})
