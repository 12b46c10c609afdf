import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { type Authentication, Dump, MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Schedule, Stream } from "effect"
import { call, collect, connectClient, connectPacket, rawClient, text } from "./helpers.js"

/** A fresh directory for dump files, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-dump-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const readAll = (path: string) => Stream.runCollect(Dump.read(path))

/** Starts a server with dumps in `dir`, runs `f`, stops the server, returns `f`'s result. */
const withDumps = <A, E, R>(
  dir: string,
  config: MqttServer.MqttServer["Service"] extends never ? never : Parameters<typeof MqttServer.make>[0],
  f: (server: MqttServer.MqttServer["Service"]) => Effect.Effect<A, E, R>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* MqttServer.make({ ports: 0, dumpPrefix: `${dir}/`, ...config })
      const result = yield* f(server)
      yield* server.stop
      return result
    })
  )

describe("packet dumps", () => {
  it.live("an enhanced authentication exchange: AuthStep entries, and the AUTH packets with their data", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const authentication: Authentication.Authentication = {
        TOKEN: { steps: [{ reply: "continue", data: "challenge" }, { reply: "success" }] }
      }
      yield* withDumps(dir, { dumps: ["all.jsonl"], authentication }, (server) =>
        Effect.scoped(
          Effect.gen(function* () {
            const raw = yield* rawClient(server, 5)
            yield* raw.send(
              connectPacket({
                protocolLevel: 5,
                clientId: "a",
                properties: { authenticationMethod: "TOKEN", authenticationData: text("hi") }
              })
            )
            yield* raw.next
            yield* raw.send({ _tag: "Auth", reasonCode: 0x18, properties: { authenticationMethod: "TOKEN" } })
            yield* raw.next
          })
        )
      )
      const all = yield* readAll(`${dir}/all.jsonl`)
      const steps = all.filter((e) => e._tag === "AuthStep")
      assert.deepStrictEqual(
        steps.map((e) => (e._tag === "AuthStep" ? [e.step, e.dataLength, e.answer] : [])),
        [
          [0, 2, "continue"],
          [1, 0, "success"]
        ]
      )
      const challenge = all.find((e) => e._tag === "Packet" && e.direction === "out" && e.packet._tag === "Auth")
      assert.strictEqual(
        new TextDecoder().decode((challenge as { packet: Packet.Auth }).packet.properties?.authenticationData),
        "challenge"
      )
    })
  )

  it.live("payload fields: utf8 for UTF-8 text, json when it is JSON (white space first too), neither for binary", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const payloads: ReadonlyArray<readonly [string, Uint8Array]> = [
        ["json", new TextEncoder().encode(' \n [1, "two", null]')],
        ["literal", new TextEncoder().encode("null")],
        ["almost", new TextEncoder().encode("nope")],
        ["text", new TextEncoder().encode("21.5 °C")],
        ["zeros", new Uint8Array(4)],
        ["binary", new Uint8Array([0xff, 0xfe, 0x00])]
      ]
      yield* withDumps(dir, { dumps: ["all.jsonl"] }, (server) =>
        Effect.gen(function* () {
          const pub = yield* connectClient(server, { clientId: "pub" })
          for (const [topic, payload] of payloads)
            yield* call((cb) => pub.publish(topic, Buffer.from(payload), { qos: 1 }, cb))
        })
      )
      const byTopic = new Map(
        (yield* readAll(`${dir}/all.jsonl`)).flatMap((e) =>
          e._tag === "Packet" && e.packet._tag === "Publish" ? [[e.packet.topic, e.payload] as const] : []
        )
      )
      assert.deepStrictEqual(byTopic.get("json"), { length: 19, utf8: ' \n [1, "two", null]', json: [1, "two", null] })
      assert.deepStrictEqual(byTopic.get("literal"), { length: 4, utf8: "null", json: null })
      assert.deepStrictEqual(byTopic.get("almost"), { length: 4, utf8: "nope" })
      assert.deepStrictEqual(byTopic.get("text"), { length: 8, utf8: "21.5 °C" })
      assert.deepStrictEqual(byTopic.get("zeros"), { length: 4, utf8: "\u0000\u0000\u0000\u0000" })
      assert.deepStrictEqual(byTopic.get("binary"), { length: 3 })
    })
  )

  it.live("write every packet and connection event as JSON Lines, globally and per connection", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withDumps(dir, { dumps: ["all.jsonl", "conn-{c}.jsonl"] }, (server) =>
        Effect.gen(function* () {
          const sub = yield* connectClient(server, { clientId: "sub" })
          yield* call((cb) => sub.subscribe("t", { qos: 1 }, cb))
          const pub = yield* connectClient(server, { clientId: "pub", protocolVersion: 5 })
          yield* call((cb) =>
            pub.publish("t", '{"temp":21.5}', { qos: 1, properties: { contentType: "application/json" } }, cb)
          )
          yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Puback", { clientId: "sub" }))
        })
      )
      const all = yield* readAll(`${dir}/all.jsonl`)
      assert.strictEqual(all[0]!._tag, "ConnectionOpened")
      const packets = all.filter((e): e is Extract<Dump.DumpEntry, { _tag: "Packet" }> => e._tag === "Packet")
      const publishIn = packets.find((e) => e.direction === "in" && e.packet._tag === "Publish")!
      assert.deepStrictEqual([publishIn.clientId, publishIn.connection], ["pub", 1])
      assert.deepStrictEqual(publishIn.payload, { length: 13, utf8: '{"temp":21.5}', json: { temp: 21.5 } })
      assert.strictEqual(
        (publishIn.packet as { properties?: { contentType?: string } }).properties?.contentType,
        "application/json"
      )
      assert.match(publishIn.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
      const closed = all.filter((e) => e._tag === "ConnectionClosed")
      assert.deepStrictEqual(
        closed.map((e) => (e as { reason: string }).reason),
        ["ServerStopped", "ServerStopped"]
      )
      const conn0 = yield* readAll(`${dir}/conn-0.jsonl`)
      const conn1 = yield* readAll(`${dir}/conn-1.jsonl`)
      assert.isTrue(conn0.every((e) => (e as { connection: number }).connection === 0))
      assert.isTrue(conn1.every((e) => (e as { connection: number }).connection === 1))
      assert.strictEqual(conn0.length + conn1.length, all.length)
    })
  )

  it.live("entries read back equal the packets the server received and sent", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const events = yield* withDumps(dir, { dumps: ["all.jsonl"] }, (server) =>
        Effect.gen(function* () {
          const raw = yield* rawClient(server, 5)
          yield* raw.send(
            connectPacket({
              protocolLevel: 5,
              clientId: "rt",
              will: { topic: "w", payload: new Uint8Array([0, 1, 255]), qos: 1, retain: false },
              properties: {
                userProperties: [
                  ["a", "1"],
                  ["a", "2"]
                ],
                sessionExpiryInterval: 30
              }
            })
          )
          yield* raw.send({
            _tag: "Subscribe",
            packetId: 1,
            subscriptions: [{ topicFilter: "x/#", qos: 2, noLocal: true }]
          })
          yield* raw.send({
            _tag: "Publish",
            topic: "x/1",
            payload: new Uint8Array([0xff, 0]),
            qos: 2,
            packetId: 7,
            retain: true,
            dup: false
          })
          yield* raw.next
          yield* raw.next
          yield* raw.next
          return yield* server.events.pipe(
            Stream.filter((e) => e._tag === "PacketReceived" || e._tag === "PacketSent"),
            Stream.take(6),
            Stream.runCollect
          )
        })
      )
      const entries = (yield* readAll(`${dir}/all.jsonl`)).filter((e) => e._tag === "Packet")
      assert.deepStrictEqual(
        entries.slice(0, 6).map((e) => (e as { packet: unknown }).packet),
        events.map((e) => (e as { packet: unknown }).packet)
      )
      const binary = entries.find((e) => (e as { packet: { _tag: string } }).packet._tag === "Publish")!
      assert.deepStrictEqual((binary as { payload?: unknown }).payload, { length: 2 })
    })
  )

  it.live("a {id} placeholder never lets a client id escape the dump directory", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const ids = ["../../escape", "a/b", "..", "x".repeat(300), "sp ace\\"]
      yield* withDumps(dir, { dumps: ["client-{id}.jsonl"] }, (server) =>
        Effect.forEach(ids, (clientId) => connectClient(server, { clientId }), { discard: true })
      )
      const files = Fs.readdirSync(dir)
      assert.strictEqual(files.length, ids.length)
      for (const file of files) {
        assert.match(file, /^client-[a-z0-9_%~^-]+\.jsonl$/)
        assert.isAtMost(file.length, 150)
      }
      assert.include(files, "client-%2e%2e%2f%2e%2e%2fescape.jsonl")
      assert.deepStrictEqual(
        Fs.readdirSync(Path.dirname(dir)).filter((f) => f === "escape.jsonl"),
        []
      )
    })
  )

  it("{id} file names are injective where names ignore case, on Windows too, and for long ids", () => {
    const names = [
      "a",
      "A",
      "nul",
      "NUL",
      "con",
      "Con",
      "",
      "%",
      "^a",
      `${"x".repeat(130)}1`,
      `${"x".repeat(130)}2`
    ].map(Dump.fileNameOf)
    // Distinct ids, distinct names, even after case folding.
    assert.strictEqual(new Set(names.map((name) => name.toLowerCase())).size, names.length)
    assert.deepStrictEqual(names.slice(0, 4), ["a", "^a", "%nul", "^n^u^l"])
    for (const name of names) {
      assert.notMatch(name, /^(con|prn|aux|nul|com\d|lpt\d)$/i)
      assert.isAtMost(name.length, 130)
    }
  })

  it.live("dump files are owner-only, and a planted symbolic link is not followed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const victim = `${dir}/victim.txt`
      Fs.writeFileSync(victim, "untouched\n")
      Fs.symlinkSync(victim, `${dir}/trap.jsonl`)
      yield* withDumps(dir, { dumps: ["all.jsonl", "trap.jsonl"] }, (server) =>
        Effect.gen(function* () {
          yield* connectClient(server, { clientId: "c" })
          const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.includes("trap.jsonl")))
          assert.include(warning.message, "ELOOP")
        })
      )
      assert.strictEqual(Fs.readFileSync(victim, "utf8"), "untouched\n")
      assert.strictEqual(Fs.statSync(`${dir}/all.jsonl`).mode & 0o777, 0o600)
    })
  )

  it.live("per-connection files are closed when their connection ends, and reopened for append", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const openDumpFiles = () =>
        Fs.readdirSync("/proc/self/fd").filter((fd) => {
          try {
            return Fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
          } catch {
            return false
          }
        })
      const session = (clientId: string) =>
        Effect.scoped(
          Effect.gen(function* () {
            const raw = yield* rawClient(server)
            yield* raw.send(connectPacket({ clientId }))
            yield* raw.next
            yield* raw.send({ _tag: "Disconnect" })
            yield* raw.closed
          })
        )
      let server: MqttServer.MqttServer["Service"]
      yield* withDumps(dir, { dumps: ["conn-{c}.jsonl", "id-{id}.jsonl"] }, (s) =>
        Effect.gen(function* () {
          server = s
          for (let i = 0; i < 40; i++) yield* session(i % 2 === 0 ? "even" : `odd${i}`)
          yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.connection === 39))
          // A CONNACK leaves only once the dump has every earlier event: by then the 40 closed
          // connections' files are closed, and only the new connection's two files are open.
          const probe = yield* rawClient(server)
          yield* probe.send(connectPacket({ clientId: "probe" }))
          yield* probe.next
          assert.strictEqual(openDumpFiles().length, 2)
        })
      )
      // "even" connected 20 times: one file, appended to every time.
      const even = yield* readAll(`${dir}/id-even.jsonl`)
      assert.strictEqual(even.filter((e) => e._tag === "ConnectionClosed").length, 20)
      assert.strictEqual(Fs.readdirSync(dir).filter((f) => f.startsWith("conn-")).length, 41)
    })
  )

  it.live("appends to existing files", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      Fs.writeFileSync(`${dir}/all.jsonl`, "")
      for (const id of ["first", "second"]) {
        yield* withDumps(dir, { dumps: ["all.jsonl"] }, (server) => connectClient(server, { clientId: id }))
      }
      const clientIds = (yield* readAll(`${dir}/all.jsonl`)).flatMap((e) =>
        "clientId" in e && e.clientId ? [e.clientId] : []
      )
      assert.includeMembers(clientIds, ["first", "second"])
    })
  )

  it.live("when the server stops mid-stream, the dump has an entry for every packet counted", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stats = yield* Effect.scoped(
        Effect.gen(function* () {
          const server = yield* MqttServer.make({ ports: 0, dumpPrefix: `${dir}/`, dumps: ["all.jsonl"] })
          const client = yield* connectClient(server, { clientId: "busy" })
          yield* call((cb) => client.subscribe("load", { qos: 1 }, cb))
          for (let i = 0; i < 200; i++) client.publish("load", `message ${i}`, { qos: 1 })
          // Stop once 50 of the 200 publishes have arrived: the rest are still in flight.
          yield* collect(server, ServerEvent.isPacket("PacketReceived", "Publish"), 50)
          return yield* server.stop
        })
      )
      const entries = yield* readAll(`${dir}/all.jsonl`)
      const packets = entries.filter((e) => e._tag === "Packet").length
      assert.isAbove(stats.packetsIn, 50)
      assert.strictEqual(packets, stats.packetsIn + stats.packetsOut)
    })
  )

  it.effect("a bad line fails with the file, the line number and the problem", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = `${dir}/bad.jsonl`
      Fs.writeFileSync(
        file,
        '{"_tag":"ConnectionOpened","time":"2026-01-01T00:00:00.000000Z","connection":0,"remoteAddress":"::1","remotePort":1}\n{"_tag":"Packet"}\n'
      )
      const error = yield* Effect.flip(readAll(file))
      assert.strictEqual(error._tag, "DumpReadError")
      assert.strictEqual(error.line, 2)
      assert.include(error.message, `${file}:2:`)
    })
  )
})

describe("payload decoding", () => {
  const decoded = (
    dumpDecode: Parameters<typeof MqttServer.make>[0] extends infer C
      ? C extends { dumpDecode?: infer D }
        ? D
        : never
      : never,
    payload: Uint8Array
  ) =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withDumps(dir, { dumps: ["all.jsonl"], dumpDecode }, (server) =>
        Effect.gen(function* () {
          const raw = yield* rawClient(server)
          yield* raw.send(connectPacket({ clientId: "d" }))
          yield* raw.send({ _tag: "Publish", topic: "t", payload, qos: 1, packetId: 1, retain: false, dup: false })
          yield* raw.next
          yield* raw.next
        })
      )
      const entry = (yield* readAll(`${dir}/all.jsonl`)).find((e) => e._tag === "Packet" && e.packet._tag === "Publish")
      return (entry as { payload: Dump.Payload }).payload
    })

  it.live("built-in decoders: hex, base64, json, utf8", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* decoded("hex", new Uint8Array([0xde, 0xad]))).decoded, "dead")
      assert.strictEqual((yield* decoded("base64", text("hi"))).decoded, "aGk=")
      assert.deepStrictEqual((yield* decoded("json", text("[1,2]"))).decoded, [1, 2])
      assert.strictEqual((yield* decoded("json", text("nope"))).decodeError, "not valid JSON")
      assert.strictEqual((yield* decoded("utf8", new Uint8Array([0xff]))).decodeError, "not valid UTF-8")
    })
  )

  it.live("an external command: payload on stdin, JSON or text on stdout", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual((yield* decoded({ command: "cat" }, text('{"a":1}'))).decoded, { a: 1 })
      assert.strictEqual((yield* decoded({ command: "tr a-z A-Z" }, text("shout"))).decoded, "SHOUT")
    })
  )

  it.live("a failing, complaining or hanging command becomes the entry's error; the entry is kept", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* decoded({ command: "exit 3" }, text("x"))).decodeError, "decoder failed (exit code 3)")
      assert.include((yield* decoded({ command: "echo oops >&2; cat" }, text("x"))).decodeError, "oops")
      const hung = yield* decoded({ command: "sleep 5", timeout: 200 }, text("x"))
      assert.deepStrictEqual(hung, { length: 1, utf8: "x", decodeError: "decoder timed out after 200 ms" })
    })
  )

  it.live("a timed-out command is killed with everything it started; its output is bounded", () =>
    Effect.gen(function* () {
      const marker = "31.4159"
      const hung = yield* decoded({ command: `sleep ${marker} & sleep ${marker}`, timeout: 200 }, text("x"))
      assert.strictEqual(hung.decodeError, "decoder timed out after 200 ms")
      // The process group was sent SIGKILL: wait (bounded) for the kernel to finish them.
      const left = () => {
        const found = ChildProcess.spawnSync("pgrep", ["-f", `sleep ${marker}`], { encoding: "utf8" })
        return found.stdout.trim()
      }
      const remaining = yield* Effect.sync(left).pipe(
        Effect.repeat({ while: (pids) => pids !== "", schedule: Schedule.spaced("20 millis"), times: 50 })
      )
      assert.strictEqual(remaining, "")
      const flood = yield* decoded({ command: "head -c 2000000 /dev/zero | tr '\\000' a" }, text("x"))
      assert.strictEqual(flood.decodeError, "decoder output over 1048576 bytes: not kept")
    })
  )

  it.live("a decoding function (library users)", () =>
    Effect.gen(function* () {
      const payload = yield* decoded(
        (bytes, context) => Effect.succeed({ topic: context.topic, sum: bytes.reduce((a, b) => a + b, 0) }),
        new Uint8Array([1, 2, 3])
      )
      assert.deepStrictEqual(payload.decoded, { topic: "t", sum: 6 })
      const failing = yield* decoded(() => Effect.fail(new Error("bad frame")), new Uint8Array([1]))
      assert.strictEqual(failing.decodeError, "bad frame")
    })
  )
})
