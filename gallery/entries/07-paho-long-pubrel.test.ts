/**
 * paho-mqtt 1.6.1 (Debian's python3-paho-mqtt): a PUBREL with its optional fields kills the loop.
 *
 * Symptom: an MQTT 5 client receiving a QoS 2 message gets a PUBREL that carries reason code 0x00
 * and a zero property length — allowed by the spec, which only lets a server leave both out — and
 * paho reads the packet identifier with `struct.unpack("!H", …)` over all four bytes: a
 * `struct.error` escapes `loop_forever()`, the client's network loop (and here its script) dies,
 * and the message is never delivered. https://github.com/eclipse-paho/paho.mqtt.python/issues/696
 *
 * Fixed in paho-mqtt 2.0.0, which cannot be installed here (Debian has 1.6.1, and PyPI is out of
 * reach): this entry shows the bug alone. Its control is the same client against the server's
 * default short PUBREL, which it handles.
 *
 * Recipe: `explicitReasonCodes: true` (MQTT 5 acks written with reason code and property length),
 * then a QoS 2 `server.publish` to the client's subscription.
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { start } from "@mqttest/server"
import { assert, describe, test } from "vitest"

/** The paho subscriber from start to exit; the server publishes at QoS 2 once it has subscribed. */
const run = async (explicitReasonCodes: boolean) => {
  await using server = await start({ ports: 0, explicitReasonCodes })
  const child = ChildProcess.spawn("/usr/bin/python3", [
    Path.join(import.meta.dirname, "../paho_subscriber.py"),
    server.host,
    String(server.port),
    "meter/#"
  ])
  let stderr = ""
  child.stderr.on("data", (chunk) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  child.once("error", (error) => {
    stderr += `${error.message} (apt-get install python3-paho-mqtt)`
  })
  const lines: Array<Record<string, unknown>> = []
  for await (const line of Readline.createInterface({ input: child.stdout })) {
    const said = JSON.parse(line) as Record<string, unknown>
    lines.push(said)
    if (said.subscribed !== undefined) await server.publish("meter/1", "42", { qos: 2 })
  }
  return { code: await exited, lines, stderr }
}

describe("paho-mqtt 1.6.1: a PUBREL with reason code and property length kills its network loop", () => {
  test("1.6.1 (buggy) against the long PUBREL: struct.error, the message never delivered", async () => {
    const { code, lines, stderr } = await run(true)
    assert.strictEqual(code, 1)
    assert.match(stderr, /struct\.error: unpack requires a buffer of 2 bytes/)
    assert.include(stderr, "_handle_pubrel")
    assert.deepStrictEqual(lines, [{ subscribed: "meter/#", paho: "1.6.1" }])
  })

  test("control: the same client against the default short PUBREL gets its message", async () => {
    const { code, lines, stderr } = await run(false)
    assert.strictEqual(code, 0, stderr)
    assert.deepStrictEqual(lines.slice(1), [{ message: "meter/1", payload: "42", qos: 2 }, { done: true }])
  })
})
