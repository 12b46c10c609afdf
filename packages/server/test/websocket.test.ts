/**
 * MQTT over WebSocket (`ws://`, and `wss://` with a throw-away CA), with
 * MQTT.js (which speaks it with the `mqtt` subprotocol) and raw WebSocket
 * and HTTP clients for what the spec's section 6 refuses.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Certificates, Dump, MqttServer, ServerEvent } from "@mqttest/server"
import { Effect, Stream } from "effect"
import type mqtt from "mqtt"
import WebSocket from "ws"
import { call, connectAt, connectClient } from "./helpers.js"

const certs = Effect.runSync(Certificates.make())
type Server = MqttServer.MqttServer["Service"]
const urlOf = (server: Server, scheme: string) => server.urls.find((url) => url.startsWith(`${scheme}://`))!

const config = {
  tls: { cert: certs.server.cert, key: certs.server.key, ports: 0 },
  ws: { ports: 0 },
  wss: { ports: 0, path: "/broker" }
} as const

describe("WebSocket", () => {
  it.effect("ws:// and wss:// next to mqtt:// and mqtts://; MQTT.js over WebSocket reaches a TCP client", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      assert.deepStrictEqual(
        server.urls.map((url) => url.replace(/:\d+/, ":PORT")),
        ["mqtt://127.0.0.1:PORT", "mqtts://127.0.0.1:PORT", "ws://127.0.0.1:PORT/mqtt", "wss://127.0.0.1:PORT/broker"]
      )
      const overWs = yield* connectAt(urlOf(server, "ws"), { clientId: "ws", protocolVersion: 5 })
      const overWss = yield* connectAt(urlOf(server, "wss"), { clientId: "wss", ca: certs.ca.cert })
      const transports = yield* Effect.forEach(["ws", "wss"], (clientId) =>
        Effect.map(
          server.waitFor(ServerEvent.isPacket("PacketReceived", "Connect", { clientId })),
          (connect) => connect.connection
        ).pipe(
          Effect.flatMap((connection) =>
            server.waitFor(ServerEvent.is("ConnectionOpened", (e) => e.connection === connection))
          ),
          Effect.map((opened) => opened.transport)
        )
      )
      assert.deepStrictEqual(transports, ["ws", "wss"])
      for (const client of [overWs, overWss]) yield* call((cb) => client.subscribe("t/#", { qos: 1 }, cb))
      const received = [overWs, overWss].map(
        (client) =>
          new Promise<string>((resolve) => client.once("message", (topic, payload) => resolve(`${topic} ${payload}`)))
      )
      const plain = yield* connectClient(server, { clientId: "plain" })
      yield* call((cb) => plain.publish("t/1", "from TCP", { qos: 1 }, cb))
      assert.deepStrictEqual(yield* Effect.promise(() => Promise.all(received)), ["t/1 from TCP", "t/1 from TCP"])
    }).pipe(Effect.provide(MqttServer.layerTest(config)))
  )

  it.effect("a packet fault over WebSocket: each PUBLISH to the client twice", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectAt(urlOf(server, "ws"), { clientId: "twice" })
      yield* call((cb) => client.subscribe("t", { qos: 0 }, cb))
      const two = new Promise<number>((resolve) => {
        let count = 0
        client.on("message", () => {
          if (++count === 2) resolve(count)
        })
      })
      yield* server.publish("t", "once")
      assert.strictEqual(yield* Effect.promise(() => two), 2)
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"))
      assert.strictEqual(fault.detail, "duplicate PUBLISH #1")
    }).pipe(
      Effect.provide(
        MqttServer.layerTest({
          ws: { ports: 0 },
          packetFaults: { faults: [{ packet: "Publish", action: "duplicate" }] }
        })
      )
    )
  )

  it.effect("a WebSocket client that does not offer the mqtt subprotocol is refused with 400 and a warning", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const status = yield* Effect.callback<number>((resume) => {
        const socket = new WebSocket(urlOf(server, "ws"))
        socket.on("unexpected-response", (_request, response) => {
          resume(Effect.succeed(response.statusCode ?? 0))
          socket.terminate()
        })
        socket.on("error", () => {})
      })
      assert.strictEqual(status, 400)
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.includes("subprotocol")))
      assert.include(
        warning.message,
        'did not offer the "mqtt" subprotocol (or "mqttv3.1"): refused with HTTP 400 [MQTT-6.0.0-3]'
      )
    }).pipe(Effect.provide(MqttServer.layerTest({ ws: { ports: 0 } })))
  )

  it.effect("an MQTT 3.1 client offering the mqttv3.1 subprotocol is served (MQTT.js at protocol level 3)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      // What the upgrade agreed on, as a raw WebSocket client sees it.
      const agreed = yield* Effect.callback<string>((resume) => {
        const socket = new WebSocket(urlOf(server, "ws"), ["mqttv3.1"])
        socket.on("open", () => {
          resume(Effect.succeed(socket.protocol))
          socket.close()
        })
        socket.on("error", () => {})
      })
      assert.strictEqual(agreed, "mqttv3.1")
      // Offered both, the server takes "mqtt".
      const preferred = yield* Effect.callback<string>((resume) => {
        const socket = new WebSocket(urlOf(server, "ws"), ["mqttv3.1", "mqtt"])
        socket.on("open", () => {
          resume(Effect.succeed(socket.protocol))
          socket.close()
        })
        socket.on("error", () => {})
      })
      assert.strictEqual(preferred, "mqtt")
      const client = yield* connectAt(urlOf(server, "ws"), {
        clientId: "old",
        protocolVersion: 3,
        protocolId: "MQIsdp"
      })
      yield* call((cb) => client.publish("t", "3.1", { qos: 1 }, cb))
      const connect = yield* server.waitFor(ServerEvent.isPacket("PacketReceived", "Connect", { clientId: "old" }))
      assert.strictEqual(connect.packet.protocolLevel, 3)
    }).pipe(Effect.provide(MqttServer.layerTest({ ws: { ports: 0 } })))
  )

  it.effect("a text frame closes the connection with a warning: MQTT travels in binary frames only", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const closed = yield* Effect.callback<number>((resume) => {
        const socket = new WebSocket(urlOf(server, "ws"), "mqtt")
        socket.on("open", () => socket.send("CONNECT as text", { binary: false }))
        socket.on("close", (code) => resume(Effect.succeed(code)))
        socket.on("error", () => {})
      })
      assert.isNumber(closed)
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (e) => e.message.includes("text frame")))
      assert.include(warning.message, "MQTT is carried in binary frames only: connection closed [MQTT-6.0.0-1]")
    }).pipe(Effect.provide(MqttServer.layerTest({ ws: { ports: 0 } })))
  )

  it.effect("a plain HTTP request to the WebSocket port is told to upgrade (426)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [status, body] = yield* Effect.callback<readonly [number, string]>((resume) => {
        Http.get(urlOf(server, "ws").replace("ws://", "http://"), (response) => {
          let body = ""
          response.on("data", (chunk) => {
            body += chunk
          })
          response.on("end", () => resume(Effect.succeed([response.statusCode ?? 0, body] as const)))
        })
      })
      assert.strictEqual(status, 426)
      assert.include(body, 'upgrade at /mqtt with the "mqtt" subprotocol')
    }).pipe(Effect.provide(MqttServer.layerTest({ ws: { ports: 0 } })))
  )

  it.effect("dumps have the same shape on every transport: TCP, TLS, WebSocket, secure WebSocket", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-ws-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const server = yield* MqttServer.make({ host: "127.0.0.1", ports: 0, ...config, dumps: [`${dir}/{id}.jsonl`] })
      const clients: ReadonlyArray<readonly [string, string, mqtt.IClientOptions]> = [
        ["tcp", server.url, {}],
        ["tls", urlOf(server, "mqtts"), { ca: certs.ca.cert }],
        ["ws", urlOf(server, "ws"), {}],
        ["wss", urlOf(server, "wss"), { ca: certs.ca.cert }]
      ]
      for (const [clientId, url, options] of clients) {
        const client = yield* connectAt(url, { clientId, ...options })
        yield* call((cb) => client.subscribe(clientId, { qos: 1 }, cb))
        yield* call((cb) => client.publish(clientId, "payload", { qos: 1 }, cb))
        yield* Effect.promise(() => client.endAsync())
      }
      yield* server.stop
      const shapes = yield* Effect.forEach(clients, ([clientId]) =>
        Effect.map(Stream.runCollect(Dump.read(`${dir}/${clientId}.jsonl`)), (entries) =>
          entries
            .filter((e) => e._tag === "Packet")
            .map((e) => `${e.direction} ${e.packet._tag}${e.payload === undefined ? "" : ` ${e.payload.utf8}`}`)
        )
      )
      for (const shape of shapes) assert.deepStrictEqual(shape, shapes[0])
      assert.isAtLeast(shapes[0]!.length, 8)
    })
  )

  it.effect("a behaviour over every transport: a client id without the prefix is refused, with FaultInjected", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.make({
        host: "127.0.0.1",
        ports: 0,
        ...config,
        clientIdPrefix: { prefix: "ok-" }
      })
      for (const [scheme, options] of [
        ["mqtt", {}],
        ["mqtts", { ca: certs.ca.cert }],
        ["ws", {}],
        ["wss", { ca: certs.ca.cert }]
      ] as const) {
        const mark = yield* server.mark
        const error = yield* Effect.flip(connectAt(urlOf(server, scheme), { clientId: `bad-${scheme}`, ...options }))
        assert.match(error.message, /Identifier rejected|identifier/i, scheme)
        const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"), { after: mark })
        assert.deepStrictEqual([fault.fault, fault.clientId], ["clientIdPrefix", `bad-${scheme}`])
        yield* Effect.scoped(connectAt(urlOf(server, scheme), { clientId: `ok-${scheme}`, ...options }))
      }
    })
  )

  it.effect(
    "a packet fault over every network transport: each PUBLISH to the client twice, over TCP, TLS, ws, wss and a Unix socket",
    () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-ws-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
        const server = yield* MqttServer.make({
          host: "127.0.0.1",
          ports: 0,
          ...config,
          unix: Path.join(dir, "mqtt.sock"),
          packetFaults: { faults: [{ packet: "Publish", action: "duplicate" }] }
        })
        for (const [scheme, options] of [
          ["mqtt", {}],
          ["mqtts", { ca: certs.ca.cert }],
          ["ws", {}],
          ["wss", { ca: certs.ca.cert }],
          ["mqtt+unix", {}]
        ] as const) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const topic = scheme.replace("+", "-")
              const client = yield* connectAt(urlOf(server, scheme), { clientId: topic, ...options })
              yield* call((cb) => client.subscribe(topic, { qos: 0 }, cb))
              const twice = new Promise<number>((resolve) => {
                let count = 0
                client.on("message", () => {
                  if (++count === 2) resolve(count)
                })
              })
              yield* server.publish(topic, "once")
              assert.strictEqual(yield* Effect.promise(() => twice), 2, scheme)
            })
          )
        }
      })
  )

  it.effect("wss without tls is a config error that says what it needs", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(MqttServer.make({ ports: 0, wss: { ports: 0 } }))
      assert.include(error.message, "wss: a secure WebSocket listener needs the certificate and key of tls")
    })
  )
})
