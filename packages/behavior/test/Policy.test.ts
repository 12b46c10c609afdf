/**
 * The Policy's decisions, as data: no socket, no server. (What each decision
 * does on the wire is tested once over a real socket in @mqttest/server.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Policy } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import { Duration, Effect } from "effect"

const connect = (fields: Partial<Packet.Connect> = {}): Packet.Connect => ({
  _tag: "Connect",
  protocolLevel: 4,
  clientId: "c",
  clean: true,
  keepAlive: 60,
  ...fields
})

const puback = (packetId: number): Packet.Packet => ({ _tag: "Puback", packetId })
const ids = (packets: ReadonlyArray<Packet.Packet>) => packets.map((p) => (p as { packetId?: number }).packetId)

/** The packet ids written for a run of PUBACKs 1..n. */
const writes = (policy: Policy.ConnectionPolicy, n: number) =>
  Array.from({ length: n }, (_, i) => ids(policy.outgoing(puback(i + 1)).packets))

describe("Policy", () => {
  it.effect("is a service with a layer, and departs from a plain broker nowhere by default", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      const conn = policy.connection(0)
      assert.strictEqual(conn.ackDelay("Puback"), undefined)
      assert.strictEqual(yield* conn.connackDelay, undefined)
      assert.strictEqual(conn.refuseConnect(connect(), "c"), undefined)
      assert.strictEqual(conn.refuse("refusePublish", "a/b"), undefined)
      assert.deepStrictEqual(conn.outgoing(puback(1)), { packets: [puback(1)], injected: [] })
      assert.strictEqual(conn.writePlan(100, 1), undefined)
      assert.strictEqual(conn.readPlan(new Uint8Array(10)), undefined)
      // MQTT 5 never resends on a live connection; MQTT 3 after 5 s.
      assert.strictEqual(conn.resendDelays(5, 1), undefined)
      assert.deepStrictEqual(yield* conn.resendDelays(4, 1)!.next, Duration.millis(5000))
    }).pipe(Effect.provide(Policy.layerTest))
  )

  it.effect("steps an ack delay per type: the Nth acknowledgement gets the Nth delay, then none", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ ackDelay: { puback: { fixed: 300, times: 2 } } })
      const conn = policy.connection(0)
      assert.strictEqual(conn.ackDelay("Suback"), undefined)
      const steps = [yield* conn.ackDelay("Puback")!, yield* conn.ackDelay("Puback")!, yield* conn.ackDelay("Puback")!]
      assert.deepStrictEqual(
        steps.map((s) => (s === undefined ? undefined : Duration.toMillis(s.duration))),
        [300, 300, undefined]
      )
      assert.deepStrictEqual(steps[0]!.injected, { fault: "ackDelay", detail: "PUBACK delayed by 300 ms" })
    })
  )

  it.effect("chooses per connection from lists, and by client id rule once the client is identified", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({
        maxPackets: [1, null],
        rules: [{ clientId: { regex: "^slow-" }, maxPackets: 7 }]
      })
      assert.strictEqual(policy.connection(0).behavior.maxPackets, 1)
      assert.strictEqual(policy.connection(1).behavior.maxPackets, undefined)
      const conn = policy.connection(1)
      conn.identify("slow-1")
      assert.strictEqual(conn.behavior.maxPackets, 7)
      // The decision comes once: after it, the connection no longer counts.
      assert.strictEqual(conn.countPacket(6), undefined)
      assert.deepStrictEqual(conn.countPacket(7), {
        closeAfter: 0,
        injected: { fault: "maxPackets", detail: "closing after 7 packets" }
      })
      assert.strictEqual(conn.countPacket(8), undefined)
    })
  )

  it.effect("refuses CONNECT by client id prefix and by credentials, with each level's code", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({
        clientIdPrefix: { prefix: "test-" },
        credentials: { username: "u", password: "p", reasonCode: 5 }
      })
      const conn = policy.connection(0)
      assert.strictEqual(conn.refuseConnect(connect(), "other")?.reasonCode, 2)
      assert.strictEqual(conn.refuseConnect(connect({ protocolLevel: 5 }), "other")?.reasonCode, 0x85)
      const bad = conn.refuseConnect(connect({ username: "u", password: new TextEncoder().encode("x") }), "test-1")
      assert.deepStrictEqual(bad, { reasonCode: 5, injected: { fault: "credentials", detail: 'user "u" refused' } })
      // A code valid for MQTT 3 only is mapped to the nearest MQTT 5 one.
      const bad5 = conn.refuseConnect(connect({ protocolLevel: 5, username: "v" }), "test-1")
      assert.strictEqual(bad5?.reasonCode, 0x87)
      const good = connect({ username: "u", password: new TextEncoder().encode("p") })
      assert.strictEqual(conn.refuseConnect(good, "test-1"), undefined)
    })
  )

  it.effect("refuses operations on topics matching a filter", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ refuseSubscribe: { topics: ["secret/#"], reasonCode: 0x87 } })
      const conn = policy.connection(0)
      assert.strictEqual(conn.refuse("refuseSubscribe", "public/x"), undefined)
      assert.deepStrictEqual(conn.refuse("refuseSubscribe", "secret/x"), {
        reasonCode: 0x87,
        injected: { fault: "refuseSubscribe", detail: '"secret/x" refused' }
      })
      assert.strictEqual(conn.refuse("refusePublish", "secret/x"), undefined)
    })
  )

  it.effect("reorders packets in pairs (2, 1, 4, 3) and never loses a held one", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ packetFaults: { faults: [{ packet: "Puback", action: "reorder" }] } })
      const conn = policy.connection(0)
      assert.deepStrictEqual(writes(conn, 4), [[], [2, 1], [], [4, 3]])
      const fifth = puback(5)
      const held = conn.outgoing(fifth)
      assert.deepStrictEqual(held.held, { packet: fifth, maxHold: 1000 })
      // After maxHold the server asks whether it is still held: yes, once.
      assert.deepStrictEqual(conn.releaseHeld(fifth), {
        fault: "packetFaults",
        detail: "reorder: PUBACK released alone after 1000 ms"
      })
      assert.strictEqual(conn.releaseHeld(fifth), undefined)
      conn.outgoing(puback(6))
      assert.deepStrictEqual(ids(conn.releaseAllHeld()), [6])
    })
  )

  it.effect("counts nth / every per fault, and from zero again after configure changes the faults", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ packetFaults: { faults: [{ packet: "Puback", action: "drop", nth: 2 }] } })
      const conn = policy.connection(0)
      assert.deepStrictEqual(writes(conn, 3), [[1], [], [3]])
      const changed = yield* policy.configure({
        packetFaults: { faults: [{ packet: "Puback", action: "duplicate", every: 2 }] }
      })
      assert.deepStrictEqual(changed, ["packetFaults"])
      assert.deepStrictEqual(writes(conn, 4), [[1], [2, 2], [3], [4, 4]])
      // reset restores the options the policy started with, and says which changed.
      assert.deepStrictEqual(yield* policy.reset, ["packetFaults"])
      assert.deepStrictEqual(writes(conn, 2), [[1], []])
    })
  )

  it.effect("draws probabilities from a seeded source: the same seed gives the same run", () =>
    Effect.gen(function* () {
      const run = (seed: number) =>
        Effect.map(
          Policy.make({ seed, packetFaults: { faults: [{ packet: "Puback", action: "drop", probability: 0.5 }] } }),
          (policy) => writes(policy.connection(3), 40).map((written) => written.length)
        )
      const first = yield* run(1)
      assert.deepStrictEqual(yield* run(1), first)
      assert.notStrictEqual((yield* run(2)).join(), first.join())
      // Both outcomes occur.
      assert.isTrue(first.includes(0) && first.includes(1))
    })
  )

  it.effect("paces writes under a bandwidth cap: pieces of 1/20 s, the link shared by consecutive writes", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ network: { bandwidth: 1000 } })
      const conn = policy.connection(0)
      const plan = conn.writePlan(100, 2)!
      assert.strictEqual(plan.piece, 50)
      assert.deepStrictEqual(plan.injected, [
        { fault: "network.bandwidth", detail: "2 packets (100 bytes) paced at 1000 bytes/s (100 ms)" }
      ])
      // 50 bytes at 1000 bytes/s take 50 ms; a second piece sent at once waits for the first.
      assert.strictEqual(conn.linkWait(0, 50, 1000), 50)
      assert.strictEqual(conn.linkWait(0, 50, 1000), 100)
      assert.strictEqual(conn.linkWait(500, 50, 1000), 50)
    })
  )

  it.effect("reads a slow consumer's bytes in pieces with their waits", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.make({ network: { readBandwidth: 200 } })
      const plan = policy.connection(0).readPlan(new Uint8Array(25))!
      assert.deepStrictEqual(
        plan.pieces.map((p) => p.length),
        [10, 10, 5]
      )
      assert.strictEqual(plan.waitMillis(plan.pieces[0]!), 50)
      assert.strictEqual(plan.injected.fault, "network.readBandwidth")
    })
  )
})
