import { assert, describe, it } from "@effect/vitest"
import type { Packet } from "@mqttest/codec"
import { MqttServer } from "@mqttest/server"
import { Effect, Queue } from "effect"
import { call, connect5, connectClient, messages, subscribeRaw } from "./helpers.js"

const withServer = (config: Parameters<typeof MqttServer.layerTest>[0] = {}) =>
  Effect.provide(MqttServer.layerTest(config))

const payloadOf = (packet: Packet.Packet) => new TextDecoder().decode((packet as Packet.Publish).payload)

describe("MQTT 5 SUBSCRIBE options", () => {
  it.effect("No Local keeps a client's own messages from it (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { protocolVersion: 5, clientId: "self" })
      yield* call((cb) => client.subscribe("chat", { qos: 1, nl: true }, cb))
      yield* call((cb) => client.publish("chat", "mine", { qos: 1 }, cb))
      yield* server.publish("chat", "theirs", { qos: 1 })
      assert.strictEqual((yield* Queue.take(yield* messages(client))).payload, "theirs")
    }).pipe(withServer())
  )

  it.effect("Retain As Published keeps the retain flag on live delivery (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { protocolVersion: 5, clientId: "rap" })
      yield* call((cb) => client.subscribe({ kept: { qos: 0, rap: true }, cleared: { qos: 0, rap: false } }, cb))
      yield* server.publish("kept", "a", { retain: true })
      yield* server.publish("cleared", "b", { retain: true })
      const inbox = yield* messages(client)
      const received = [yield* Queue.take(inbox), yield* Queue.take(inbox)]
      assert.deepStrictEqual(
        received.map((m) => [m.topic, m.packet.retain]),
        [
          ["kept", true],
          ["cleared", false]
        ]
      )
    }).pipe(withServer())
  )

  it.effect("Retain Handling 0 sends retained messages on every subscribe, 1 only on a new one, 2 never", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      yield* server.publish("r", "retained", { retain: true })
      const [raw] = yield* connect5(server, { clientId: "rh" })
      const count = (retainHandling: 0 | 1 | 2) =>
        Effect.gen(function* () {
          yield* subscribeRaw(raw, [{ topicFilter: "r", qos: 0, retainHandling }])
          // A marker after the SUBACK tells whether a retained message came first.
          yield* server.publish("r", "marker")
          let retained = 0
          while (payloadOf(yield* raw.next) !== "marker") retained++
          return retained
        })
      assert.deepStrictEqual([yield* count(1), yield* count(1), yield* count(0), yield* count(2)], [1, 0, 1, 0])
    }).pipe(withServer())
  )

  it.effect("delivers subscription identifiers with matching publishes (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const client = yield* connectClient(server, { protocolVersion: 5, clientId: "ids" })
      yield* call((cb) => client.subscribe("s/+", { qos: 0, properties: { subscriptionIdentifier: 7 } }, cb))
      yield* call((cb) => client.subscribe("s/#", { qos: 0, properties: { subscriptionIdentifier: 9 } }, cb))
      yield* server.publish("s/x", "both")
      const received = yield* Queue.take(yield* messages(client))
      const ids = received.packet.properties?.subscriptionIdentifier
      assert.deepStrictEqual([ids].flat().sort(), [7, 9])
    }).pipe(withServer())
  )

  it.effect("shares $share/group/filter subscriptions round robin (MQTT.js)", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const a = yield* connectClient(server, { protocolVersion: 5, clientId: "a" })
      const b = yield* connectClient(server, { protocolVersion: 5, clientId: "b" })
      yield* call((cb) => a.subscribe("$share/workers/jobs", { qos: 1 }, cb))
      yield* call((cb) => b.subscribe("$share/workers/jobs", { qos: 1 }, cb))
      for (const n of ["1", "2", "3", "4"]) yield* server.publish("jobs", n, { qos: 1 })
      const inboxA = yield* messages(a)
      const inboxB = yield* messages(b)
      const gotA = [yield* Queue.take(inboxA), yield* Queue.take(inboxA)].map((m) => m.payload)
      const gotB = [yield* Queue.take(inboxB), yield* Queue.take(inboxB)].map((m) => m.payload)
      assert.deepStrictEqual([...gotA, ...gotB].sort(), ["1", "2", "3", "4"])
      assert.strictEqual(Queue.sizeUnsafe(inboxA) + Queue.sizeUnsafe(inboxB), 0)
    }).pipe(withServer())
  )

  it.effect("grants at most the maximum QoS", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "q" })
      const suback = yield* subscribeRaw(raw, [
        { topicFilter: "a", qos: 2 },
        { topicFilter: "b", qos: 0 }
      ])
      assert.deepStrictEqual(suback.reasonCodes, [1, 0])
    }).pipe(withServer({ capabilities: { maximumQoS: 1 } }))
  )

  it.effect("refuses wildcards (0xA2) and shared subscriptions (0x9E) when unsupported, with a reason string", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "c" })
      const suback = yield* subscribeRaw(raw, [
        { topicFilter: "a/+", qos: 0 },
        { topicFilter: "$share/g/a", qos: 0 },
        { topicFilter: "a", qos: 0 }
      ])
      assert.deepStrictEqual(suback.reasonCodes, [0xa2, 0x9e, 0])
      assert.include(suback.properties?.reasonString, "wildcards are not supported")
    }).pipe(withServer({ capabilities: { wildcardSubscriptionAvailable: false, sharedSubscriptionAvailable: false } }))
  )

  it.effect("a subscription identifier when unsupported gets DISCONNECT 0xA1", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "c" })
      yield* raw.send({
        _tag: "Subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "a", qos: 0 }],
        properties: { subscriptionIdentifier: 1 }
      })
      assert.strictEqual(((yield* raw.next) as { reasonCode: number }).reasonCode, 0xa1)
    }).pipe(withServer({ capabilities: { subscriptionIdentifiersAvailable: false } }))
  )

  it.effect("an invalid filter gets 0x8F; the reason string is left out without Request Problem Information", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      const [asked] = yield* connect5(server, { clientId: "asked" })
      const withReason = yield* subscribeRaw(asked, [{ topicFilter: "a/#/b", qos: 0 }])
      assert.deepStrictEqual(withReason.reasonCodes, [0x8f])
      assert.include(withReason.properties?.reasonString, "'#' must be the last level")
      const [quiet] = yield* connect5(server, { clientId: "quiet", properties: { requestProblemInformation: false } })
      const withoutReason = yield* subscribeRaw(quiet, [{ topicFilter: "a/#/b", qos: 0 }])
      assert.deepStrictEqual(withoutReason, { _tag: "Suback", packetId: 1, reasonCodes: [0x8f] })
    }).pipe(withServer())
  )

  it.effect("UNSUBACK says 0x11 for a filter that had no subscription", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "u" })
      yield* subscribeRaw(raw, [{ topicFilter: "a", qos: 0 }])
      yield* raw.send({ _tag: "Unsubscribe", packetId: 2, topicFilters: ["a", "never"] })
      assert.deepStrictEqual(yield* raw.next, { _tag: "Unsuback", packetId: 2, reasonCodes: [0, 0x11] })
    }).pipe(withServer())
  )

  it.effect("No Local on a shared subscription is a protocol error", () =>
    Effect.gen(function* () {
      const [raw] = yield* connect5(yield* MqttServer.MqttServer, { clientId: "n" })
      yield* raw.send({
        _tag: "Subscribe",
        packetId: 1,
        subscriptions: [{ topicFilter: "$share/g/t", qos: 0, noLocal: true }]
      })
      assert.strictEqual(((yield* raw.next) as { reasonCode: number }).reasonCode, 0x82)
    }).pipe(withServer())
  )
})
