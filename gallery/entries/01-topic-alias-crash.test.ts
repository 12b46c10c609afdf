/**
 * MQTT.js ≤ 5.15.2 → 5.16.0: a topic alias the client never allowed ends its process.
 *
 * Symptom: an MQTT 5 client that announced no Topic Alias Maximum (so the server may send it no
 * alias) receives a PUBLISH with Topic Alias 1; MQTT.js throws a TypeError from its packet
 * handler, uncaught, and the whole process exits. 5.16.0 reports an error and closes the
 * connection instead. Advisory https://github.com/advisories/GHSA-c8jq-r765-cq7g, fixed by
 * https://github.com/mqttjs/MQTT.js/pull/2060
 *
 * Recipe: `breakClientLimits: ["topicAliasMaximum"]` — the server gives its PUBLISHes topic
 * aliases whatever the client announced — then `server.publish` to the client's subscription.
 * The client runs in a process of its own (gallery/subscriber.mjs), since the bug ends it.
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { type Handle, ServerEvent, start } from "@mqttest/server"
import { assert, describe, test } from "vitest"

interface Outcome {
  readonly code: number | null
  readonly lines: ReadonlyArray<Record<string, unknown>>
  readonly stderr: string
}

/** The subscriber's process from start to exit; the server publishes once it has subscribed. */
const run = async (alias: string, server: Handle): Promise<Outcome> => {
  const child = ChildProcess.spawn(
    process.execPath,
    [Path.join(import.meta.dirname, "../subscriber.mjs"), alias, server.url, "news/#"],
    { cwd: Path.join(import.meta.dirname, "..") }
  )
  let stderr = ""
  child.stderr.on("data", (chunk) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const lines: Array<Record<string, unknown>> = []
  for await (const line of Readline.createInterface({ input: child.stdout })) {
    const said = JSON.parse(line) as Record<string, unknown>
    lines.push(said)
    if (said.subscribed !== undefined) await server.publish("news/today", "hello")
  }
  return { code: await exited, lines, stderr }
}

describe("MQTT.js 5.15.2 → 5.16.0: a topic alias the client never allowed ends its process", () => {
  test("5.15.2 (buggy): an uncaught TypeError ends the process", async () => {
    await using server = await start({ ports: 0, breakClientLimits: ["topicAliasMaximum"] })
    const { code, lines, stderr } = await run("mqtt-5-15-2", server)
    const fault = await server.waitFor(ServerEvent.is("FaultInjected"))
    assert.strictEqual(fault.detail, `topic alias 1 for "news/today"; the client's Topic Alias Maximum is 0`)
    assert.strictEqual(code, 1)
    assert.include(stderr, "TypeError: Cannot read properties of undefined (reading 'put')")
    assert.deepStrictEqual(lines, [{ subscribed: "news/#" }])
  })

  test("5.16.0 (fixed): an error event, the connection closed, the process alive to the end", async () => {
    await using server = await start({ ports: 0, breakClientLimits: ["topicAliasMaximum"] })
    const { code, lines, stderr } = await run("mqtt-5-16-0", server)
    assert.strictEqual(code, 0)
    assert.strictEqual(stderr, "")
    assert.deepStrictEqual(lines, [
      { subscribed: "news/#" },
      { error: "Received a PUBLISH Topic Alias but no Topic Alias Maximum was advertised" },
      { closed: true }
    ])
  })
})
