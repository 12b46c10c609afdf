/**
 * Faults aimed at what a client assumes: a session it thinks the server
 * kept (`dropSession`), the limits it announced (`breakClientLimits`), the
 * short form of acknowledgements (`explicitReasonCodes`), and a packet cut in
 * two on the wire (packet fault `split`). Raw sockets, so the bytes
 * themselves are checked.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer, ServerEvent } from "@mqttest/server"
import * as Effect from "effect/Effect"
import { connect5, connectPacket, publishQoS1, rawClient, subscribeRaw } from "./helpers.js"

const faultOf = (name: string) => ServerEvent.is("FaultInjected", (e) => e.fault === name)

/** Every chunk the socket delivers, as hex, with the time it came (ms, real). */
const chunks = (socket: NodeJS.ReadableStream) => {
  const seen: Array<{ readonly hex: string; readonly at: number }> = []
  socket.on("data", (chunk: Buffer) => seen.push({ hex: chunk.toString("hex"), at: performance.now() }))
  return seen
}

describe("client faults", () => {
  it.live("dropSession: a persistent session is discarded at CONNECT; session present 0, subscriptions gone", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // The second connection finds its session dropped; the third finds the new one.
        const server = yield* MqttServer.make({ ports: 0, dropSession: [null, true, null] })
        const persistent = connectPacket({ clientId: "keeper", clean: false })
        const first = yield* rawClient(server)
        yield* first.send(persistent)
        assert.deepInclude(yield* first.next, { _tag: "Connack", sessionPresent: false })
        yield* subscribeRaw(first, [{ topicFilter: "a", qos: 1 }])
        yield* first.send({ _tag: "Disconnect" })
        yield* first.closed

        const second = yield* rawClient(server)
        yield* second.send(persistent)
        assert.deepInclude(yield* second.next, { _tag: "Connack", sessionPresent: false, reasonCode: 0 })
        const fault = yield* server.waitFor(faultOf("dropSession"))
        assert.strictEqual(fault.detail, 'the stored session of "keeper" is discarded: CONNACK says session present 0')
        // The subscription to "a" went with the session: of "a" then "b", only "b" arrives.
        yield* subscribeRaw(second, [{ topicFilter: "b", qos: 1 }])
        yield* server.publish("a", "lost", { qos: 1 })
        yield* server.publish("b", "kept", { qos: 1 })
        const delivered = yield* second.next
        assert.deepInclude(delivered, { _tag: "Publish", topic: "b" })
        yield* second.send({ _tag: "Puback", packetId: (delivered as Packet.Publish).packetId! })
        yield* second.send({ _tag: "Disconnect" })
        yield* second.closed

        const third = yield* rawClient(server)
        yield* third.send(persistent)
        assert.deepInclude(yield* third.next, { _tag: "Connack", sessionPresent: true })
      })
    )
  )

  it.live("explicitReasonCodes: MQTT 5 acks with reason code 0x00 and property length 0 on the wire", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* MqttServer.make({ ports: 0, rules: [{ clientId: "long", explicitReasonCodes: true }] })
        // A subscriber, so that PUBREC says 0x00 (not 0x10, no matching subscribers).
        const [sink] = yield* connect5(server, { clientId: "sink" })
        yield* subscribeRaw(sink, [{ topicFilter: "t", qos: 0 }])
        for (const [explicit, clientId] of [
          [true, "long"],
          [false, "short"]
        ] as const) {
          const [raw] = yield* connect5(server, { clientId })
          const seen = chunks(raw.socket)
          // A QoS 2 exchange from the client: PUBREC and PUBCOMP from the server.
          yield* raw.send({ ...publishQoS1(5), qos: 2 })
          assert.deepInclude(yield* raw.next, { _tag: "Pubrec", packetId: 5 })
          yield* raw.send({ _tag: "Pubrel", packetId: 5 })
          assert.deepInclude(yield* raw.next, { _tag: "Pubcomp", packetId: 5 })
          assert.strictEqual(
            seen.map((c) => c.hex).join(""),
            explicit ? "500400050000" + "700400050000" : "50020005" + "70020005"
          )
        }
        const faults = yield* server.waitFor(faultOf("explicitReasonCodes"))
        assert.strictEqual(
          faults.detail,
          "PUBREC with reason code 0x00 and property length 0 (Remaining Length 4, not 2)"
        )
      })
    )
  )

  it.live("explicitReasonCodes: the server's PUBREL of a QoS 2 delivery is long too", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* MqttServer.make({ ports: 0, explicitReasonCodes: true })
        const [raw] = yield* connect5(server, { clientId: "receiver" })
        yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 2 }])
        const seen = chunks(raw.socket)
        yield* server.publish("t", "x", { qos: 2 })
        const publish = (yield* raw.next) as Packet.Publish
        yield* raw.send({ _tag: "Pubrec", packetId: publish.packetId! })
        assert.deepInclude(yield* raw.next, { _tag: "Pubrel", packetId: publish.packetId!, reasonCode: 0 })
        const id = publish.packetId!.toString(16).padStart(4, "0")
        assert.isTrue(
          seen
            .map((c) => c.hex)
            .join("")
            .endsWith(`6204${id}0000`)
        )
      })
    )
  )

  it.live("breakClientLimits topicAliasMaximum: topic aliases to a client that allows none", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* MqttServer.make({ ports: 0, breakClientLimits: ["topicAliasMaximum"] })
        const [raw] = yield* connect5(server, { clientId: "no-aliases" })
        yield* subscribeRaw(raw, [{ topicFilter: "t/#", qos: 0 }])
        yield* server.publish("t/1", "a")
        yield* server.publish("t/1", "b")
        const first = (yield* raw.next) as Packet.Publish
        const second = (yield* raw.next) as Packet.Publish
        assert.strictEqual(first.topic, "t/1")
        assert.strictEqual(first.properties?.topicAlias, 1)
        // The second uses the alias alone, as a server may once the client knows it.
        assert.strictEqual(second.topic, "")
        assert.strictEqual(second.properties?.topicAlias, 1)
        const fault = yield* server.waitFor(faultOf("breakClientLimits.topicAliasMaximum"))
        assert.strictEqual(fault.detail, `topic alias 1 for "t/1"; the client's Topic Alias Maximum is 0`)
      })
    )
  )

  it.live("breakClientLimits maximumPacketSize: a PUBLISH larger than the client takes is sent, not dropped", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* MqttServer.make({ ports: 0, breakClientLimits: [null, ["maximumPacketSize"]] })
        for (const broken of [false, true]) {
          const [raw] = yield* connect5(server, { properties: { maximumPacketSize: 64 } })
          yield* subscribeRaw(raw, [
            { topicFilter: "big", qos: 0 },
            { topicFilter: "small", qos: 0 }
          ])
          yield* server.publish("big", "x".repeat(100))
          yield* server.publish("small", "y")
          const first = (yield* raw.next) as Packet.Publish
          // Without the fault the big one is dropped [MQTT-3.1.2-25]; with it, it comes first.
          assert.strictEqual(first.topic, broken ? "big" : "small")
          yield* raw.send({ _tag: "Disconnect" })
          yield* raw.closed
        }
        const fault = yield* server.waitFor(faultOf("breakClientLimits.maximumPacketSize"))
        assert.match(fault.detail, /^PUBLISH of 1\d\d bytes; the client's Maximum Packet Size is 64$/)
      })
    )
  )

  it.live("breakClientLimits receiveMaximum: more QoS 1 PUBLISHes in flight than the client allows", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* MqttServer.make({ ports: 0, breakClientLimits: ["receiveMaximum"] })
        const [raw] = yield* connect5(server, { properties: { receiveMaximum: 1 } })
        yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 1 }])
        for (const payload of ["1", "2", "3"]) yield* server.publish("t", payload, { qos: 1 })
        // None acknowledged, all three delivered.
        const delivered = [yield* raw.next, yield* raw.next, yield* raw.next] as Array<Packet.Publish>
        assert.deepStrictEqual(
          delivered.map((p) => new TextDecoder().decode(p.payload)),
          ["1", "2", "3"]
        )
        const fault = yield* server.waitFor(faultOf("breakClientLimits.receiveMaximum"))
        assert.match(fault.detail, /^PUBLISH \d+ makes 2 in flight; the client's Receive Maximum is 1$/)
      })
    )
  )

  it.live("packet fault split: a PUBLISH cut after its second byte, the rest 60 ms later", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* MqttServer.make({
          ports: 0,
          packetFaults: { faults: [{ packet: "Publish", action: "split", at: 2, pause: 60, nth: 1 }] }
        })
        const raw = yield* rawClient(server)
        yield* raw.send(connectPacket({ clientId: "framing" }))
        yield* raw.next
        yield* subscribeRaw(raw, [{ topicFilter: "t", qos: 0 }])
        const seen = chunks(raw.socket)
        // 200 bytes to "t": a Remaining Length of 203 in two bytes (0x30 0xcb 0x01 …).
        yield* server.publish("t", "z".repeat(200))
        const publish = (yield* raw.next) as Packet.Publish
        assert.strictEqual(publish.payload.length, 200)
        assert.strictEqual(seen[0]!.hex, "30cb")
        assert.strictEqual(seen.map((c) => c.hex).join("").length / 2, 3 + 3 + 200)
        assert.isAtLeast(seen[1]!.at - seen[0]!.at, 50)
        const fault = yield* server.waitFor(faultOf("packetFaults"))
        assert.strictEqual(fault.detail, "split PUBLISH #1 after byte 2, the rest 60 ms later")
        // nth: 1 — the next PUBLISH is whole.
        yield* server.publish("t", "again")
        assert.deepInclude(yield* raw.next, { _tag: "Publish", topic: "t" })
      })
    )
  )
})
