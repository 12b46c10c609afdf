/**
 * `MqttServer.layerServer` on layers a test provides: its own Policy, its
 * own SessionStore, its own Listener — the server uses them, not defaults.
 */
import { assert, describe, it } from "@effect/vitest"
import { Policy } from "@mqttest/behavior"
import { Listener, MqttServer, ServerEvent } from "@mqttest/server"
import { SessionStore } from "@mqttest/session"
import { Effect, Layer, Queue } from "effect"
import { call, connectClient, messages } from "./helpers.js"

/** A policy of the test's own: refuses client "intruder" as not authorized, otherwise the default policy. */
const gatekeeper = Layer.effect(
  Policy.Policy,
  Effect.map(Policy.make({}), (base) =>
    Policy.Policy.of({
      ...base,
      connection: (id) => {
        const inner = base.connection(id)
        // Everything else as the default policy decides (its members live on its prototype).
        const own: Pick<Policy.ConnectionPolicy, "refuseConnect"> = {
          refuseConnect: (connect, clientId) =>
            clientId === "intruder"
              ? { reasonCode: 0x87, injected: { fault: "gatekeeper", detail: "intruder refused" } }
              : inner.refuseConnect(connect, clientId)
        }
        return Object.assign(Object.create(inner) as Policy.ConnectionPolicy, own)
      }
    })
  )
)

/** A session store that starts with a retained message, and counts what it routes. */
const routed: Array<string> = []
const seededStore = Layer.effect(
  SessionStore.SessionStore,
  Effect.map(SessionStore.makeMemory, (store) => {
    store.retain({
      topic: "config/site",
      payload: new TextEncoder().encode("from the store"),
      qos: 1,
      retain: true,
      receivedAt: 0
    })
    return SessionStore.SessionStore.of({
      ...store,
      route: (message) => {
        routed.push(message.topic)
        return store.route(message)
      }
    })
  })
)

describe("MqttServer.layerServer", () => {
  it.effect("runs on the Policy, SessionStore and Listener layers the test provides", () =>
    Effect.gen(function* () {
      const server = yield* MqttServer.MqttServer
      // The listener given: in memory, whatever the config says.
      assert.strictEqual(server.transport, "memory")
      const client = yield* connectClient(server, { clientId: "reader", protocolVersion: 5 })
      yield* call((cb) => client.subscribe("config/#", { qos: 1 }, cb))
      const retained = yield* Queue.take(yield* messages(client))
      assert.deepStrictEqual([retained.topic, retained.payload], ["config/site", "from the store"])
      yield* call((cb) => client.publish("config/site", "changed", { qos: 1 }, cb))
      assert.deepStrictEqual(routed, ["config/site"])
      // The policy given: its refusal, reported as any other injected fault.
      const refused = yield* Effect.flip(connectClient(server, { clientId: "intruder", protocolVersion: 5 }))
      assert.match(String(refused), /Not authorized|0x87|135/i)
      const fault = yield* server.waitFor(ServerEvent.is("FaultInjected", (e) => e.fault === "gatekeeper"))
      assert.strictEqual(fault.clientId, "intruder")
    }).pipe(
      Effect.provide(
        MqttServer.layerServer({ transport: "tcp", ports: 1 }).pipe(
          Layer.provide(Layer.mergeAll(gatekeeper, seededStore, Listener.layerMemory))
        )
      )
    )
  )

  it.effect(
    "MqttServer.layer is the same server on the default layers (config behaviour, memory store, config listener)",
    () =>
      Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        assert.strictEqual(server.transport, "tcp")
        const client = yield* Effect.flip(connectClient(server, { clientId: "other", protocolVersion: 5 }))
        assert.match(String(client), /Client Identifier not valid|0x85|133/i)
        const fault = yield* server.waitFor(ServerEvent.is("FaultInjected"))
        assert.strictEqual(fault.fault, "clientIdPrefix")
      }).pipe(Effect.provide(MqttServer.layerTest({ clientIdPrefix: { prefix: "ok-" } })))
  )
})
