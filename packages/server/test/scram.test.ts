/**
 * SCRAM-SHA-256 and SCRAM-SHA-1 authenticators, checked against an
 * independent client side: Python's hashlib and hmac compute the
 * client-final message and the server signature the server must send.
 */
import * as ChildProcess from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { MqttServer } from "@mqttest/server"
import * as Effect from "effect/Effect"
import { connectPacket, type RawClient, rawClient, text } from "./helpers.js"

const withServer = (config: Parameters<typeof MqttServer.layerTest>[0] = {}) =>
  Effect.provide(MqttServer.layerTest(config))

/** RFC 5802's client side, in Python: client-final and the expected server-final from server-first. */
const pythonClient = `
import base64, hashlib, hmac, json, sys
algorithm, password, client_first_bare, server_first, gs2 = sys.argv[1:6]
attrs = dict(part.split("=", 1) for part in server_first.split(","))
salted = hashlib.pbkdf2_hmac(algorithm, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
client_key = hmac.new(salted, b"Client Key", algorithm).digest()
stored_key = hashlib.new(algorithm, client_key).digest()
without_proof = "c=" + base64.b64encode(gs2.encode()).decode() + ",r=" + attrs["r"]
auth_message = ",".join([client_first_bare, server_first, without_proof]).encode()
signature = hmac.new(stored_key, auth_message, algorithm).digest()
proof = bytes(a ^ b for a, b in zip(client_key, signature))
server_key = hmac.new(salted, b"Server Key", algorithm).digest()
server_signature = hmac.new(server_key, auth_message, algorithm).digest()
print(json.dumps({
  "clientFinal": without_proof + ",p=" + base64.b64encode(proof).decode(),
  "serverFinal": "v=" + base64.b64encode(server_signature).decode()
}))
`

const python = (args: ReadonlyArray<string>): { clientFinal: string; serverFinal: string } => {
  const out = ChildProcess.spawnSync("/usr/bin/python3", ["-c", pythonClient, ...args], { encoding: "utf8" })
  if (out.status !== 0) throw new Error(`python3 failed (apt-get install python3): ${out.stderr}`)
  return JSON.parse(out.stdout)
}

const decode = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes ?? new Uint8Array())

/** A SCRAM exchange over raw MQTT 5 packets; the client's password may be wrong. */
const exchange = (raw: RawClient, method: string, algorithm: string, user: string, password: string) =>
  Effect.gen(function* () {
    const gs2 = "n,,"
    const clientFirstBare = `n=${user},r=fyko+d2lbbFgONRv9qkxdawL`
    yield* raw.send(
      connectPacket({
        protocolLevel: 5,
        clientId: user,
        properties: { authenticationMethod: method, authenticationData: text(gs2 + clientFirstBare) }
      })
    )
    const serverFirst = yield* raw.next
    assert.strictEqual(serverFirst._tag, "Auth")
    const first = decode(
      (serverFirst as { properties?: { authenticationData?: Uint8Array } }).properties?.authenticationData
    )
    assert.match(first, /^r=fyko\+d2lbbFgONRv9qkxdawL[^,]+,s=[^,]+,i=4096$/)
    const expected = python([algorithm, password, clientFirstBare, first, gs2])
    yield* raw.send({
      _tag: "Auth",
      reasonCode: 0x18,
      properties: { authenticationMethod: method, authenticationData: text(expected.clientFinal) }
    })
    const connack = yield* raw.next
    assert.strictEqual(connack._tag, "Connack")
    return { connack: connack as Extract<typeof connack, { _tag: "Connack" }>, expected }
  })

describe("SCRAM", () => {
  it.effect("SCRAM-SHA-256: the client's proof is accepted and CONNACK carries the expected server signature", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const raw = yield* rawClient(server, 5)
      const { connack, expected } = yield* exchange(raw, "SCRAM-SHA-256", "sha256", "user", "pencil")
      assert.strictEqual(connack.reasonCode, 0)
      assert.strictEqual(connack.properties?.authenticationMethod, "SCRAM-SHA-256")
      assert.strictEqual(decode(connack.properties?.authenticationData), expected.serverFinal)
    }).pipe(withServer({ authentication: { "SCRAM-SHA-256": { scram: "SHA-256", users: { user: "pencil" } } } }))
  )

  it.effect('authFault "badFinalData" with SCRAM: CONNACK 0x00 with a server signature the client must reject', () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const { connack, expected } = yield* exchange(
        yield* rawClient(server, 5),
        "SCRAM-SHA-256",
        "sha256",
        "user",
        "pencil"
      )
      assert.strictEqual(connack.reasonCode, 0)
      const final = decode(connack.properties?.authenticationData)
      assert.match(final, /^v=[A-Za-z0-9+/]+=*$/)
      assert.notStrictEqual(final, expected.serverFinal)
    }).pipe(
      withServer({
        authentication: { "SCRAM-SHA-256": { scram: "SHA-256", users: { user: "pencil" } } },
        authFault: "badFinalData"
      })
    )
  )

  it.effect("SCRAM-SHA-1 as well; a wrong password, or an unknown user, gets CONNACK 0x87", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const ok = yield* exchange(yield* rawClient(server, 5), "SCRAM-SHA-1", "sha1", "user", "pencil")
      assert.strictEqual(ok.connack.reasonCode, 0)
      assert.strictEqual(decode(ok.connack.properties?.authenticationData), ok.expected.serverFinal)
      const wrong = yield* exchange(yield* rawClient(server, 5), "SCRAM-SHA-1", "sha1", "user", "pen")
      assert.strictEqual(wrong.connack.reasonCode, 0x87)
      const unknown = yield* rawClient(server, 5)
      yield* unknown.send(
        connectPacket({
          protocolLevel: 5,
          clientId: "nobody",
          properties: { authenticationMethod: "SCRAM-SHA-1", authenticationData: text("n,,n=nobody,r=abc") }
        })
      )
      const refused = yield* unknown.next
      assert.deepStrictEqual([refused._tag, (refused as { reasonCode: number }).reasonCode], ["Connack", 0x87])
    }).pipe(withServer({ authentication: { "SCRAM-SHA-1": { scram: "SHA-1", users: { user: "pencil" } } } }))
  )
})
