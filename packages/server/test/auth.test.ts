/**
 * MQTT 5 enhanced authentication: scripted and programmed authenticators,
 * the CONNECT exchange, re-authentication, and the protocol errors around
 * them, with raw packets (every byte as the spec says) and MQTT.js.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { Authentication, MqttServer, ServerEvent } from "@mqttest/server"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import mqtt from "mqtt"
import { connectPacket, type RawClient, rawClient, text } from "./helpers.js"

const withServer = (config: Parameters<typeof MqttServer.layerTest>[0] = {}) =>
  Effect.provide(MqttServer.layerTest(config))

const decode = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes))

/** A three-step scripted exchange for method "TOKEN". */
const threeSteps: Authentication.Script = {
  steps: [
    { expect: "hello", reply: "continue", data: "challenge-1" },
    { expect: "response-1", reply: "continue", data: { hex: "00ff" } },
    { expect: "response-2", reply: "success", data: "welcome" }
  ]
}

/** CONNECT at level 5 with an authentication method and data. */
const connectWith = (raw: RawClient, method: string, data: string, clientId = "a") =>
  raw.send(
    connectPacket({
      protocolLevel: 5,
      clientId,
      properties: { authenticationMethod: method, authenticationData: text(data) }
    })
  )

const auth = (reasonCode: number, method: string, data?: string): Packet.Auth => ({
  _tag: "Auth",
  reasonCode,
  properties: { authenticationMethod: method, ...(data !== undefined ? { authenticationData: text(data) } : {}) }
})

/** The next packet, which must be of this type. */
const expectNext = <T extends Packet.Packet["_tag"]>(raw: RawClient, tag: T) =>
  Effect.map(raw.next, (packet) => {
    assert.strictEqual(packet._tag, tag)
    return packet as Extract<Packet.Packet, { _tag: T }>
  })

/** Connects through the three steps; returns the client and its CONNACK. */
const authenticated = (server: MqttServer.MqttServer["Service"]) =>
  Effect.gen(function* () {
    const raw = yield* rawClient(server, 5)
    yield* connectWith(raw, "TOKEN", "hello")
    const first = yield* expectNext(raw, "Auth")
    assert.strictEqual(first.reasonCode, 0x18)
    assert.strictEqual(first.properties?.authenticationMethod, "TOKEN")
    assert.strictEqual(decode(first.properties?.authenticationData), "challenge-1")
    yield* raw.send(auth(0x18, "TOKEN", "response-1"))
    const second = yield* expectNext(raw, "Auth")
    assert.deepStrictEqual([...(second.properties?.authenticationData ?? [])], [0x00, 0xff])
    yield* raw.send(auth(0x18, "TOKEN", "response-2"))
    const connack = yield* expectNext(raw, "Connack")
    return [raw, connack] as const
  })

describe("enhanced authentication (scripted)", () => {
  it.effect("a three-step exchange ends with CONNACK 0x00 carrying the method and the last data", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw, connack] = yield* authenticated(server)
      assert.strictEqual(connack.reasonCode, 0)
      assert.strictEqual(connack.properties?.authenticationMethod, "TOKEN")
      assert.strictEqual(decode(connack.properties?.authenticationData), "welcome")
      // The connection works as any other.
      yield* raw.send({ _tag: "Pingreq" })
      yield* expectNext(raw, "Pingresp")
      // Each step is an AuthStep event (the data itself is in the packets: PacketReceived/PacketSent, dumps).
      const steps = yield* server.eventsAfter(0, (e) => e._tag === "AuthStep").pipe(Stream.take(3), Stream.runCollect)
      assert.deepStrictEqual(
        steps.map((e) => (e._tag === "AuthStep" ? [e.method, e.step, e.dataLength, e.answer, e.reauthentication] : [])),
        [
          ["TOKEN", 0, 5, "continue", false],
          ["TOKEN", 1, 10, "continue", false],
          ["TOKEN", 2, 10, "success", false]
        ]
      )
      const sent = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Auth", { clientId: "a" }))
      assert.strictEqual(sent.packet.reasonCode, 0x18)
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )

  it.effect("data that differs from the step's expect fails with CONNACK 0x87, and the connection closes", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 5)
      yield* connectWith(raw, "TOKEN", "hello")
      yield* expectNext(raw, "Auth")
      yield* raw.send(auth(0x18, "TOKEN", "wrong"))
      const connack = yield* expectNext(raw, "Connack")
      assert.strictEqual(connack.reasonCode, 0x87)
      yield* raw.closed
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "ConnectRefused")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )

  it.effect("a fail step ends with its reason code; a method the server has no authenticator for gets 0x8C", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const banned = yield* rawClient(server, 5)
      yield* connectWith(banned, "BAN", "x", "b")
      assert.strictEqual((yield* expectNext(banned, "Connack")).reasonCode, 0x8a)
      const unknown = yield* rawClient(server, 5)
      yield* connectWith(unknown, "KERBEROS", "x", "c")
      assert.strictEqual((yield* expectNext(unknown, "Connack")).reasonCode, 0x8c)
    }).pipe(withServer({ authentication: { BAN: { steps: [{ reply: "fail", reasonCode: 0x8a }] } } }))
  )

  it.effect("an AUTH with another method is a protocol error: CONNACK 0x82 before the CONNACK [MQTT-4.12.0-5]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 5)
      yield* connectWith(raw, "TOKEN", "hello")
      yield* expectNext(raw, "Auth")
      yield* raw.send(auth(0x18, "OTHER", "response-1"))
      // Before the CONNACK, a protocol error is told in a CONNACK.
      assert.strictEqual((yield* expectNext(raw, "Connack")).reasonCode, 0x82)
      const violation = yield* server.waitFor(ServerEvent.is("ProtocolViolation"))
      assert.strictEqual(violation.spec, "MQTT-4.12.0-5")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )

  it.effect("during the exchange only AUTH or DISCONNECT may come: a PUBLISH is a protocol error", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 5)
      yield* connectWith(raw, "TOKEN", "hello")
      yield* expectNext(raw, "Auth")
      yield* raw.send({ _tag: "Publish", topic: "t", payload: text("x"), qos: 0, retain: false, dup: false })
      assert.strictEqual((yield* expectNext(raw, "Connack")).reasonCode, 0x82)
      const violation = yield* server.waitFor(ServerEvent.is("ProtocolViolation"))
      assert.strictEqual(violation.spec, "MQTT-3.1.2-30")
      // A DISCONNECT instead ends it quietly.
      const leaving = yield* rawClient(server, 5)
      yield* connectWith(leaving, "TOKEN", "hello", "leaving")
      yield* expectNext(leaving, "Auth")
      yield* leaving.send({ _tag: "Disconnect" })
      yield* leaving.closed
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.clientId === "leaving"))
      assert.strictEqual(closed.reason, "ClientDisconnect")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )

  it.effect("a client that stops answering before the CONNACK is closed at the connect timeout", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 5)
      yield* connectWith(raw, "TOKEN", "hello")
      yield* expectNext(raw, "Auth")
      yield* TestClock.adjust("3 seconds")
      yield* raw.closed
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "ConnectTimeout")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps }, connectTimeout: 2000 }))
  )

  it.effect("AUTH 0x00 from the client during the exchange is a protocol error (it must continue with 0x18)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 5)
      yield* connectWith(raw, "TOKEN", "hello")
      yield* expectNext(raw, "Auth")
      yield* raw.send(auth(0x00, "TOKEN", "response-1"))
      assert.strictEqual((yield* expectNext(raw, "Connack")).reasonCode, 0x82)
      assert.strictEqual((yield* server.waitFor(ServerEvent.is("ProtocolViolation"))).spec, "MQTT-4.12.0-3")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )

  it.effect("re-authentication: AUTH 0x19, the same steps, then AUTH 0x00 with the method and the last data", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* authenticated(server)
      yield* raw.send(auth(0x19, "TOKEN", "hello"))
      assert.strictEqual((yield* expectNext(raw, "Auth")).reasonCode, 0x18)
      yield* raw.send(auth(0x18, "TOKEN", "response-1"))
      yield* expectNext(raw, "Auth")
      yield* raw.send(auth(0x18, "TOKEN", "response-2"))
      const done = yield* expectNext(raw, "Auth")
      assert.strictEqual(done.reasonCode, 0)
      assert.strictEqual(done.properties?.authenticationMethod, "TOKEN")
      assert.strictEqual(decode(done.properties?.authenticationData), "welcome")
      yield* raw.send({ _tag: "Pingreq" })
      yield* expectNext(raw, "Pingresp")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )

  it.effect("a failed re-authentication ends with DISCONNECT carrying the reason code [MQTT-4.12.1-2]", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* authenticated(server)
      yield* raw.send(auth(0x19, "TOKEN", "not hello"))
      assert.strictEqual((yield* expectNext(raw, "Disconnect")).reasonCode, 0x87)
      yield* raw.closed
      const closed = yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(closed.reason, "ServerDisconnect")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )

  it.effect("AUTH 0x18 with no exchange going on, or AUTH without a method in CONNECT, is a protocol error", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [raw] = yield* authenticated(server)
      yield* raw.send(auth(0x18, "TOKEN", "hello"))
      assert.strictEqual((yield* expectNext(raw, "Disconnect")).reasonCode, 0x82)
      assert.strictEqual((yield* server.waitFor(ServerEvent.is("ProtocolViolation"))).spec, "MQTT-4.12.1-1")
      const mark = yield* server.mark
      const plain = yield* rawClient(server, 5)
      yield* plain.send(connectPacket({ protocolLevel: 5, clientId: "plain" }))
      yield* expectNext(plain, "Connack")
      yield* plain.send(auth(0x19, "TOKEN", "hello"))
      assert.strictEqual((yield* expectNext(plain, "Disconnect")).reasonCode, 0x82)
      const violation = yield* server.waitFor(ServerEvent.is("ProtocolViolation"), { after: mark })
      assert.strictEqual(violation.spec, "MQTT-4.12.0-7")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )
})

describe("authentication faults (authFault)", () => {
  const twoSteps: Authentication.Script = {
    steps: [
      { expect: "hello", reply: "continue", data: "challenge" },
      { expect: "answer", reply: "success", data: "welcome" }
    ]
  }
  /** A raw client that sent CONNECT and answered the server's first AUTH. */
  const answered = (server: MqttServer.MqttServer["Service"]) =>
    Effect.gen(function* () {
      const raw = yield* rawClient(server, 5)
      yield* connectWith(raw, "TOKEN", "hello")
      assert.strictEqual(decode((yield* expectNext(raw, "Auth")).properties?.authenticationData), "challenge")
      yield* raw.send(auth(0x18, "TOKEN", "answer"))
      return raw
    })
  const faulted = (fault: string) =>
    withServer({ authentication: { TOKEN: twoSteps }, authFault: fault as "extraRound" })

  it.effect('"extraRound": one more AUTH 0x18 before the success, which comes after the client answers it', () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* answered(server)
      const extra = yield* expectNext(raw, "Auth")
      assert.strictEqual(extra.reasonCode, 0x18)
      yield* raw.send(auth(0x18, "TOKEN", "anything"))
      const connack = yield* expectNext(raw, "Connack")
      assert.deepStrictEqual([connack.reasonCode, decode(connack.properties?.authenticationData)], [0, "welcome"])
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"))
      assert.strictEqual(fault.fault, "authFault.extraRound")
    }).pipe(faulted("extraRound"))
  )

  it.effect('"dropMethod": the successful CONNACK and AUTH 0x00 leave out the Authentication Method', () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* answered(server)
      const connack = yield* expectNext(raw, "Connack")
      assert.strictEqual(connack.reasonCode, 0)
      assert.strictEqual(connack.properties?.authenticationMethod, undefined)
      assert.strictEqual(decode(connack.properties?.authenticationData), "welcome")
      yield* raw.send(auth(0x19, "TOKEN", "hello"))
      yield* expectNext(raw, "Auth")
      yield* raw.send(auth(0x18, "TOKEN", "answer"))
      const done = yield* expectNext(raw, "Auth")
      assert.deepStrictEqual([done.reasonCode, done.properties?.authenticationMethod], [0, undefined])
    }).pipe(faulted("dropMethod"))
  )

  it.effect('"badFinalData": the success carries altered data', () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* answered(server)
      const connack = yield* expectNext(raw, "Connack")
      const data = connack.properties?.authenticationData ?? new Uint8Array()
      assert.strictEqual(data.length, "welcome".length)
      assert.notStrictEqual(decode(data), "welcome")
      assert.strictEqual((yield* server.waitFor(ServerEvent.is("FaultInjected"))).fault, "authFault.badFinalData")
    }).pipe(faulted("badFinalData"))
  )

  it.effect(
    '"neverFinish": once the client answers the first AUTH, the connection is blackholed (kept open, silent)',
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const raw = yield* rawClient(server, 5)
        yield* connectWith(raw, "TOKEN", "hello")
        yield* expectNext(raw, "Auth")
        yield* raw.send(auth(0x18, "TOKEN", "answer"))
        assert.strictEqual((yield* server.waitFor(ServerEvent.is("FaultInjected"))).fault, "authFault.neverFinish")
        yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "blackhole"))
        assert.strictEqual((yield* server.stats).openConnections, 1)
      }).pipe(faulted("neverFinish"))
  )
})

describe("enhanced authentication (a function)", () => {
  it.effect("each step is asked with its number, the data and the client; a defect fails with 0x80", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 5)
      yield* connectWith(raw, "FN", "one", "fn")
      yield* expectNext(raw, "Auth")
      yield* raw.send(auth(0x18, "FN", "two"))
      const connack = yield* expectNext(raw, "Connack")
      assert.strictEqual(connack.reasonCode, 0)
      assert.strictEqual(decode(connack.properties?.authenticationData), "done after 2")
      const broken = yield* rawClient(server, 5)
      yield* connectWith(broken, "BROKEN", "x", "broken")
      assert.strictEqual((yield* expectNext(broken, "Connack")).reasonCode, 0x80)
      const warning = yield* server.waitFor(ServerEvent.is("Warning", (w) => w.message.includes("BROKEN")))
      assert.include(warning.message, 'authenticator for "BROKEN" failed')
    }).pipe(
      withServer({
        authentication: {
          FN: (exchange) =>
            Effect.succeed(
              exchange.step === 0 && decode(exchange.data) === "one" && exchange.clientId === "fn"
                ? Authentication.continueWith(text("more"))
                : exchange.step === 1 && decode(exchange.data) === "two" && !exchange.reauthentication
                  ? Authentication.succeed(text(`done after ${exchange.step + 1}`))
                  : Authentication.fail()
            ),
          BROKEN: () => Effect.die(new Error("the token service is down"))
        }
      })
    )
  )

  it.live("MQTT.js goes through the exchange with its handleAuth", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* Effect.acquireRelease(
        Effect.callback<mqtt.MqttClient, Error>((resume) => {
          const c = mqtt.connect(server.url, {
            protocolVersion: 5,
            clientId: "js",
            reconnectPeriod: 0,
            properties: { authenticationMethod: "TOKEN", authenticationData: Buffer.from("hello") }
          })
          const answers: Record<string, string> = { "challenge-1": "response-1", "\u0000\u00ff": "response-2" }
          c.handleAuth = (packet, callback) => {
            const data = new TextDecoder("latin1").decode(packet.properties?.authenticationData ?? new Uint8Array())
            callback(undefined, {
              cmd: "auth",
              reasonCode: 0x18,
              properties: { authenticationMethod: "TOKEN", authenticationData: Buffer.from(answers[data] ?? "?") }
            })
          }
          c.once("connect", () => resume(Effect.succeed(c)))
          c.once("error", (error) => resume(Effect.fail(error)))
        }),
        (client) => Effect.promise(() => client.endAsync())
      )
      assert.isTrue(client.connected)
      const connack = yield* server.waitFor(ServerEvent.isPacket("PacketSent", "Connack", { clientId: "js" }))
      assert.strictEqual(connack.packet.properties?.authenticationMethod, "TOKEN")
    }).pipe(withServer({ authentication: { TOKEN: threeSteps } }))
  )
})
