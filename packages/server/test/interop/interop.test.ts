/**
 * Clients nobody here wrote: Debian's mosquitto_pub / mosquitto_sub
 * (libmosquitto) and Python's paho-mqtt, at MQTT 3.1.1 and 5. `.ci/run`
 * installs them; where they are missing these tests fail and say so.
 */

import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Certificates, MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Fiber, Queue } from "effect"
import { call, connectClient, messages } from "../helpers.js"

const python = "/usr/bin/python3"
const certs = Effect.runSync(Certificates.make())
const need = (binary: string, hint: string) =>
  Effect.suspend(() =>
    Fs.existsSync(binary) || ChildProcess.spawnSync("sh", ["-c", `command -v ${binary}`]).status === 0
      ? Effect.void
      : Effect.die(new Error(`${binary} not found: install ${hint} (.ci/run does)`))
  )

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to completion (killed after 15 s as a guard). */
const run = (command: string, args: ReadonlyArray<string>) =>
  Effect.callback<Result>((resume) => {
    const child = ChildProcess.execFile(command, args, { timeout: 15_000 }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }))
    )
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

const mosquitto = (server: MqttServer.MqttServer["Service"], version: "mqttv311" | "mqttv5") => [
  "-h",
  server.host,
  "-p",
  String(server.port),
  "-V",
  version
]

const withServer = (config: Parameters<typeof MqttServer.layerTest>[0] = {}) =>
  Effect.provide(MqttServer.layerTest(config))

describe("mosquitto clients", () => {
  for (const version of ["mqttv311", "mqttv5"] as const) {
    for (const qos of ["0", "1", "2"]) {
      it.live(`${version} QoS ${qos}: mosquitto_pub → mosquitto_sub`, () =>
        Effect.gen(function* () {
          yield* need("mosquitto_sub", "Debian's mosquitto-clients")
          const server = yield* MqttServer.MqttServer
          const sub = yield* Effect.forkChild(
            run("mosquitto_sub", [...mosquitto(server, version), "-i", "sub", "-t", "t/#", "-q", qos, "-C", "1"])
          )
          yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback", { clientId: "sub" }))
          const pub = yield* run("mosquitto_pub", [
            ...mosquitto(server, version),
            "-i",
            "pub",
            "-t",
            "t/x",
            "-m",
            "hi",
            "-q",
            qos
          ])
          assert.strictEqual(pub.code, 0, pub.stderr)
          const received = yield* Fiber.join(sub)
          assert.strictEqual(received.stdout.trim(), "hi")
          const sent = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Publish", { clientId: "sub" }))
          assert.strictEqual(sent.packet.qos, Number(qos))
        }).pipe(withServer())
      )
    }
  }

  it.live("retained messages reach a later subscriber", () =>
    Effect.gen(function* () {
      yield* need("mosquitto_pub", "Debian's mosquitto-clients")
      const server = yield* MqttServer.MqttServer
      const pub = yield* run("mosquitto_pub", [
        ...mosquitto(server, "mqttv311"),
        "-t",
        "r",
        "-m",
        "kept",
        "-r",
        "-q",
        "1"
      ])
      assert.strictEqual(pub.code, 0, pub.stderr)
      const sub = yield* run("mosquitto_sub", [...mosquitto(server, "mqttv311"), "-t", "r", "-C", "1", "-v"])
      assert.strictEqual(sub.stdout.trim(), "r kept")
    }).pipe(withServer())
  )

  it.live("a will is published when mosquitto_sub is killed", () =>
    Effect.gen(function* () {
      yield* need("mosquitto_sub", "Debian's mosquitto-clients")
      const server = yield* MqttServer.MqttServer
      const watcher = yield* connectClient(server, { clientId: "watcher" })
      yield* call((cb) => watcher.subscribe("wills/#", { qos: 1 }, cb))
      const child = ChildProcess.spawn("mosquitto_sub", [
        ...mosquitto(server, "mqttv311"),
        "-i",
        "mortal",
        "-t",
        "x",
        "--will-topic",
        "wills/mortal",
        "--will-payload",
        "gone",
        "--will-qos",
        "1"
      ])
      yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback", { clientId: "mortal" }))
      child.kill("SIGKILL")
      const will = yield* Queue.take(yield* messages(watcher))
      assert.deepStrictEqual([will.topic, will.payload], ["wills/mortal", "gone"])
    }).pipe(withServer())
  )

  it.live("-i / -u / -P against a server that only accepts one user", () =>
    Effect.gen(function* () {
      yield* need("mosquitto_pub", "Debian's mosquitto-clients")
      const server = yield* MqttServer.MqttServer
      const args = (password: string) => [
        ...mosquitto(server, "mqttv5"),
        "-i",
        "creds",
        "-u",
        "alice",
        "-P",
        password,
        "-t",
        "t",
        "-m",
        "x"
      ]
      assert.strictEqual((yield* run("mosquitto_pub", args("secret"))).code, 0)
      const refused = yield* run("mosquitto_pub", args("wrong"))
      assert.notStrictEqual(refused.code, 0)
      assert.match(refused.stderr, /user name or password/i)
    }).pipe(withServer({ credentials: { username: "alice", password: "secret" } }))
  )

  it.live("MQTT 5 properties from mosquitto_pub arrive intact", () =>
    Effect.gen(function* () {
      yield* need("mosquitto_pub", "Debian's mosquitto-clients")
      const server = yield* MqttServer.MqttServer
      const pub = yield* run("mosquitto_pub", [
        ...mosquitto(server, "mqttv5"),
        "-t",
        "p",
        "-m",
        "{}",
        "-q",
        "1",
        "-D",
        "publish",
        "user-property",
        "trace",
        "abc",
        "-D",
        "publish",
        "content-type",
        "application/json",
        "-D",
        "publish",
        "message-expiry-interval",
        "60"
      ])
      assert.strictEqual(pub.code, 0, pub.stderr)
      const received = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Publish"))
      assert.deepStrictEqual(received.packet.properties, {
        messageExpiryInterval: 60,
        contentType: "application/json",
        userProperties: [["trace", "abc"]]
      })
    }).pipe(withServer())
  )
})

describe("paho-mqtt (Python)", () => {
  const script = Path.join(import.meta.dirname, "paho_client.py")
  for (const level of [4, 5]) {
    it.live(`publishes and receives at ${level === 5 ? "MQTT 5" : "MQTT 3.1.1"}`, () =>
      Effect.gen(function* () {
        yield* need(python, "Debian's python3-paho-mqtt")
        const check = yield* run(python, ["-c", "import paho.mqtt"])
        if (check.code !== 0)
          return yield* Effect.die(new Error("paho-mqtt missing: install Debian's python3-paho-mqtt"))
        const server = yield* MqttServer.MqttServer
        const result = yield* run(python, [script, server.host, String(server.port), String(level)])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stdout.trim(), level === 5 ? "hello from paho python" : "hello from paho")
      }).pipe(withServer())
    )

    it.live(`over TLS with tls_set at ${level === 5 ? "MQTT 5" : "MQTT 3.1.1"}`, () =>
      Effect.gen(function* () {
        yield* need(python, "Debian's python3-paho-mqtt")
        const server = yield* MqttServer.MqttServer
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-paho-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
        const ca = yield* Certificates.writeFiles(certs.ca, dir, "ca")
        const port = new URL(server.urls.find((url) => url.startsWith("mqtts://"))!).port
        const result = yield* run(python, [script, "localhost", port, String(level), ca.cert])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stdout.trim(), level === 5 ? "hello from paho python" : "hello from paho")
        const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened"))
        assert.strictEqual(opened.transport, "tls")
      }).pipe(withServer({ tls: { cert: certs.server.cert, key: certs.server.key, ports: 0 } }))
    )
  }
})
