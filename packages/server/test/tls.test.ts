/**
 * TLS (`mqtts://`) with real handshakes: MQTT.js and mosquitto's clients
 * trusting a throw-away CA from `Certificates`, client certificates, the
 * certificate faults a client must reject, and a client that does not speak
 * TLS on the TLS port.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Encoder } from "@mqttest/codec"
import { Certificates, type Config, Dump, MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Stream } from "effect"
import mqtt from "mqtt"
import { call, connectClient } from "./helpers.js"

const certs = Effect.runSync(Certificates.make())
const tlsOf = (extra: Partial<Config.Tls> = {}): Config.Tls => ({
  cert: certs.server.cert,
  key: certs.server.key,
  ports: 0,
  ...extra
})

type Server = MqttServer.MqttServer["Service"]
const tlsUrl = (server: Server) => server.urls.find((url) => url.startsWith("mqtts://"))!

/** An MQTT.js client over TLS, ended with the scope; fails with the client's error. */
const connectTls = (server: Server, options: mqtt.IClientOptions) =>
  Effect.acquireRelease(
    Effect.callback<mqtt.MqttClient, Error>((resume) => {
      const client = mqtt.connect(tlsUrl(server), { reconnectPeriod: 0, connectTimeout: 5000, ...options })
      client.once("connect", () => resume(Effect.succeed(client)))
      client.once("error", (error) => {
        client.end(true)
        resume(Effect.fail(error))
      })
    }),
    (client) => Effect.promise(() => client.endAsync(true))
  )

describe("TLS", () => {
  it.effect("serves mqtts:// next to mqtt://; MQTT.js on either reaches the other", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      assert.strictEqual(server.urls.length, 2)
      assert.match(server.urls[0]!, /^mqtt:\/\/127\.0\.0\.1:\d+$/)
      assert.match(server.urls[1]!, /^mqtts:\/\/127\.0\.0\.1:\d+$/)
      assert.strictEqual(server.url, server.urls[0])
      const secure = yield* connectTls(server, { clientId: "secure", protocolVersion: 5, ca: certs.ca.cert })
      const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened", (e) => e.transport === "tls"))
      assert.isUndefined(opened.clientCertificate)
      yield* call((cb) => secure.subscribe("t/#", { qos: 1 }, cb))
      const received = new Promise<string>((resolve) =>
        secure.once("message", (topic, payload) => resolve(`${topic} ${payload}`))
      )
      const plain = yield* connectClient(server, { clientId: "plain" })
      yield* call((cb) => plain.publish("t/1", "over TCP", { qos: 1 }, cb))
      assert.strictEqual(yield* Effect.promise(() => received), "t/1 over TCP")
    }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf() })))
  )

  it.effect(
    "requires a client certificate signed by the CA: its subject is in ConnectionOpened; none is a handshake warning",
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const sensor = certs.client("sensor-1")
        yield* connectTls(server, { clientId: "s1", ca: certs.ca.cert, cert: sensor.cert, key: sensor.key })
        const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened", (e) => e.transport === "tls"))
        assert.strictEqual(opened.clientCertificate, "CN=sensor-1")
        const refused = yield* Effect.flip(connectTls(server, { clientId: "anonymous", ca: certs.ca.cert }))
        assert.match(refused.message, /certificate|alert|socket|closed/i)
        const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("TLS handshake")))
        assert.include(warning.message, "the client sent no certificate, and the server requires one")
      }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf({ ca: certs.ca.cert, clientAuth: "require" }) })))
  )

  it.effect("asks for a client certificate without requiring one; the subject is in the dump too", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-tls-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const server = yield* MqttServer.make({
        host: "127.0.0.1",
        ports: 0,
        tls: tlsOf({ ca: certs.ca.cert, clientAuth: "request" }),
        dumps: [`${dir}/all.jsonl`]
      })
      yield* connectTls(server, { clientId: "anonymous", ca: certs.ca.cert })
      const gauge = certs.client("gauge-7")
      yield* connectTls(server, { clientId: "gauge", ca: certs.ca.cert, cert: gauge.cert, key: gauge.key })
      yield* server.stop
      const entries = yield* Stream.runCollect(Dump.read(`${dir}/all.jsonl`))
      const opened = entries.filter((e) => e._tag === "ConnectionOpened")
      assert.deepStrictEqual(
        opened.map((e) => [e.transport, e.clientCertificate]),
        [
          ["tls", undefined],
          ["tls", "CN=gauge-7"]
        ]
      )
    })
  )

  // (MQTT.js passes Node's TLS options such as minVersion through; its types do not list them.)
  it.effect("maxVersion TLSv1.2: a client that insists on TLS 1.3 fails the handshake, with a warning", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const error = yield* Effect.flip(
        connectTls(server, {
          clientId: "modern",
          ca: certs.ca.cert,
          ...({ minVersion: "TLSv1.3" } as mqtt.IClientOptions)
        })
      )
      assert.match(`${(error as NodeJS.ErrnoException).code} ${error.message}`, /version|protocol/i)
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("TLS handshake")))
      assert.match(warning.message, /version|protocol/i)
      // TLS 1.2 is served.
      yield* connectTls(server, {
        clientId: "older",
        ca: certs.ca.cert,
        ...({ maxVersion: "TLSv1.2" } as mqtt.IClientOptions)
      })
    }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf({ maxVersion: "TLSv1.2" }) })))
  )

  const faults: ReadonlyArray<readonly [Certificates.CertificateFault, string]> = [
    ["expired", "CERT_HAS_EXPIRED"],
    ["notYetValid", "CERT_NOT_YET_VALID"],
    ["wrongHost", "ERR_TLS_CERT_ALTNAME_INVALID"],
    ["unknownCa", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
    ["selfSigned", "DEPTH_ZERO_SELF_SIGNED_CERT"]
  ]
  for (const [fault, code] of faults) {
    it.effect(`a ${fault} server certificate: MQTT.js refuses it (${code}), the server warns`, () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const error = yield* Effect.flip(connectTls(server, { clientId: "careful", ca: certs.ca.cert }))
        assert.strictEqual((error as NodeJS.ErrnoException).code, code)
        const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("TLS handshake")))
        assert.include(warning.message, "the client closed the connection during the handshake")
      }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf(certs.faulty(fault)) })))
    )
  }

  it.effect(
    "certificateFault per connection: connection 1 gets an expired certificate (FaultInjected), the others the good one; configure changes it",
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        yield* connectTls(server, { clientId: "first", ca: certs.ca.cert })
        const error = yield* Effect.flip(connectTls(server, { clientId: "second", ca: certs.ca.cert }))
        assert.strictEqual((error as NodeJS.ErrnoException).code, "CERT_HAS_EXPIRED")
        const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"))
        assert.deepStrictEqual(
          [fault.connection, fault.fault, fault.detail],
          [1, "certificateFault", "TLS handshake with a expired server certificate"]
        )
        yield* connectTls(server, { clientId: "third", ca: certs.ca.cert })
        // At runtime, as every behaviour: from the next connection on.
        yield* server.configure({ certificateFault: "wrongHost" })
        const wrong = yield* Effect.flip(connectTls(server, { clientId: "fourth", ca: certs.ca.cert }))
        assert.strictEqual((wrong as NodeJS.ErrnoException).code, "ERR_TLS_CERT_ALTNAME_INVALID")
      }).pipe(
        Effect.provide(
          MqttServer.layerTest({ tls: tlsOf({ certificates: certs }), certificateFault: [null, "expired", null] })
        )
      )
  )

  it.effect("certificateFault without tls.certificates: the configured certificate, and a warning that says why", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* connectTls(server, { clientId: "served", ca: certs.ca.cert })
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("certificateFault")))
      assert.include(
        warning.message,
        "needs tls.certificates (Certificates.make()): the configured certificate is served"
      )
    }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf(), certificateFault: "expired" })))
  )

  it.effect("a client that speaks plain MQTT to the TLS port gets a warning that says so", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const port = Number(new URL(tlsUrl(server)).port)
      const socket = Net.createConnection({ host: "127.0.0.1", port })
      const connect = Encoder.encode(
        { _tag: "Connect", protocolLevel: 4, clientId: "oops", clean: true, keepAlive: 0 },
        4
      )
      socket.write(connect._tag === "Success" ? connect.success : new Uint8Array())
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("TLS handshake")))
      socket.destroy()
      assert.include(warning.message, "the client did not speak TLS")
    }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf() })))
  )

  // Real time: the clients are other processes.
  it.effect("TLS or HTTP on the plain MQTT port: a warning that says so, not a codec error", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const tlsClient = mqtt.connect(`mqtts://127.0.0.1:${server.port}`, { reconnectPeriod: 0, ca: certs.ca.cert })
      tlsClient.on("error", () => {})
      const tlsWarning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.includes("speaks")))
      tlsClient.end(true)
      assert.strictEqual(
        tlsWarning.message,
        "the client speaks TLS on a plain MQTT port (an mqtts:// client needs the TLS listener): connection closed"
      )
      const mark = yield* server.mark
      const http = Net.createConnection({ host: "127.0.0.1", port: server.port })
      http.on("error", () => {})
      http.write("GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n")
      const httpWarning = yield* server.waitFor(
        ServerEvent.is("Warning", (e) => e.message.includes("speaks")),
        { after: mark }
      )
      http.destroy()
      assert.include(httpWarning.message, "the client speaks HTTP on an MQTT port")
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"), { after: mark })
      assert.strictEqual(closed.reason, "ProtocolViolation")
      yield* server.stop
      const { events } = yield* server.finished
      assert.isFalse(events.some((e) => e._tag === "ProtocolViolation"))
    }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf() })))
  )

  /** A temporary directory (removed with the scope) holding the CA's certificate, for clients that want a file. */
  const caFiles = Effect.gen(function* () {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-tls-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
    return { dir, ca: yield* Certificates.writeFiles(certs.ca, dir, "ca") }
  })

  /** Runs mosquitto_pub to completion: its exit code and what it printed on stderr. */
  const mosquittoPub = (args: ReadonlyArray<string>) =>
    Effect.callback<{ readonly code: number; readonly stderr: string }>((resume) => {
      const child = ChildProcess.execFile("mosquitto_pub", [...args], { timeout: 10_000 }, (error, _stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stderr }))
      )
      return Effect.sync(() => void child.kill("SIGKILL"))
    })

  it.live("mosquitto_pub with a client certificate (--cert/--key) where one is required; without one, refused", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const { dir, ca } = yield* caFiles
      const client = yield* Certificates.writeFiles(certs.client("meter-3"), dir, "client")
      const common = ["-h", "127.0.0.1", "-p", new URL(tlsUrl(server)).port, "--cafile", ca.cert, "-t", "t", "-m", "m"]
      const signed = yield* mosquittoPub([...common, "--cert", client.cert, "--key", client.key, "-i", "meter"])
      assert.strictEqual(signed.code, 0, signed.stderr)
      const opened = yield* server.waitFor(ServerEvent.is("ConnectionOpened", (e) => e.clientCertificate !== undefined))
      assert.strictEqual(opened.clientCertificate, "CN=meter-3")
      const anonymous = yield* mosquittoPub([...common, "-i", "anonymous"])
      assert.notStrictEqual(anonymous.code, 0)
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("TLS handshake")))
      assert.include(warning.message, "the client sent no certificate, and the server requires one")
    }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf({ ca: certs.ca.cert, clientAuth: "require" }) })))
  )

  for (const fault of Certificates.certificateFaults) {
    it.live(`mosquitto_pub refuses a ${fault} server certificate; the server hears its alert`, () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const { ca } = yield* caFiles
        const port = new URL(tlsUrl(server)).port
        const result = yield* mosquittoPub(["-h", "localhost", "-p", port, "--cafile", ca.cert, "-t", "t", "-m", "m"])
        assert.notStrictEqual(result.code, 0)
        assert.match(result.stderr, /certificate verify failed|Protocol error|Error/i)
        const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.startsWith("TLS handshake")))
        // OpenSSL names the certificate problem in its alert; for a wrong host name it sends "internal error".
        assert.match(
          warning.message,
          /the client rejected the server's certificate \(.*alert (bad certificate|unknown ca|certificate expired|certificate unknown)|the client ended the handshake with a TLS alert \(internal error\)/
        )
      }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf(certs.faulty(fault)) })))
    )
  }

  it.live("mosquitto_sub and mosquitto_pub with --cafile, MQTT 3.1.1 and 5", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const { ca } = yield* caFiles
      const port = new URL(tlsUrl(server)).port
      for (const version of ["mqttv311", "mqttv5"]) {
        const common = ["-h", "127.0.0.1", "-p", port, "--cafile", ca.cert, "-V", version]
        const mark = yield* server.mark
        const sub = ChildProcess.spawn("mosquitto_sub", [...common, "-t", "secure/t", "-C", "1", "-W", "10"])
        let out = ""
        sub.stdout.on("data", (chunk) => {
          out += chunk
        })
        // "close" (not "exit"): stdout has been read to its end.
        const exited = new Promise<number | null>((resolve) => sub.on("close", resolve))
        yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Suback"), { after: mark })
        yield* Effect.promise(
          () =>
            new Promise<void>((resolve, reject) =>
              ChildProcess.execFile(
                "mosquitto_pub",
                [...common, "-t", "secure/t", "-m", `hello ${version}`],
                (error) => (error === null ? resolve() : reject(error))
              )
            )
        )
        const code = yield* Effect.promise(() => exited)
        assert.strictEqual(code, 0)
        assert.strictEqual(out.trim(), `hello ${version}`)
      }
    }).pipe(Effect.provide(MqttServer.layerTest({ tls: tlsOf() })))
  )

  it.effect("certificates from files; a path that cannot be read is a config error naming the option", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-tls-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const files = yield* Certificates.writeFiles(certs.server, dir, "server")
      assert.strictEqual(Fs.statSync(files.key).mode & 0o777, 0o600)
      const server = yield* MqttServer.make({ host: "127.0.0.1", ports: 0, tls: { ...files, ports: 0 } })
      yield* connectTls(server, { clientId: "files", ca: certs.ca.cert })
      const error = yield* Effect.flip(
        MqttServer.make({ ports: 0, tls: { cert: Path.join(dir, "missing.crt"), key: files.key, ports: 0 } })
      )
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, "tls.cert: expected PEM text or the path of a PEM file")
    })
  )
})
