/**
 * The router and the session store, without sockets: routing decisions as
 * data, session lifetimes on the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Message, Router, SessionStore, type SubscriptionIndex, Topic } from "@mqttest/session"
import { Effect } from "effect"
import { TestClock } from "effect/testing"

const sub = (
  clientId: string,
  topicFilter: string,
  fields: Partial<SubscriptionIndex.Subscription> = {}
): SubscriptionIndex.Subscription => {
  const parsed = Topic.parseFilter(topicFilter, 5) as Topic.ParsedFilter
  return {
    clientId,
    topicFilter,
    shareGroup: parsed.shareGroup,
    qos: 1,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionIdentifier: undefined,
    ...fields
  }
}

const message = (topic: string, fields: Partial<Message.Message> = {}): Message.Message => ({
  topic,
  payload: new TextEncoder().encode("x"),
  qos: 2,
  retain: false,
  receivedAt: 0,
  ...fields
})

describe("Router.route", () => {
  it("delivers once per client at the highest granted QoS of overlapping subscriptions, with every identifier", () => {
    const targets = Router.route(
      [
        sub("a", "t/#", { qos: 0, subscriptionIdentifier: 1 }),
        sub("a", "t/+", { qos: 2, subscriptionIdentifier: 2 }),
        sub("b", "t/x", { qos: 1 })
      ],
      { qos: 2, retain: false, publisher: undefined },
      () => 0
    )
    assert.deepStrictEqual(targets, [
      { clientId: "a", qos: 2, retain: false, subscriptionIds: [1, 2] },
      { clientId: "b", qos: 1, retain: false, subscriptionIds: [] }
    ])
  })

  it("skips the publisher on a No Local subscription and keeps retain only through Retain As Published", () => {
    const targets = Router.route(
      [sub("pub", "t", { noLocal: true }), sub("rap", "t", { retainAsPublished: true }), sub("plain", "t")],
      { qos: 1, retain: true, publisher: "pub" },
      () => 0
    )
    assert.deepStrictEqual(
      targets.map((t) => [t.clientId, t.retain]),
      [
        ["rap", true],
        ["plain", false]
      ]
    )
  })

  it("gives each message of a shared group to one member, in round robin", () => {
    const members = [sub("a", "$share/g/t"), sub("b", "$share/g/t"), sub("c", "$share/g/t")]
    const pick = Router.roundRobin()
    const who = Array.from(
      { length: 4 },
      () => Router.route(members, { qos: 1, retain: false, publisher: undefined }, pick)[0]!.clientId
    )
    assert.deepStrictEqual(who, ["a", "b", "c", "a"])
  })
})

describe("SessionStore", () => {
  it.effect("opens, resumes and cleans sessions, and routes to the subscribed ones", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore.SessionStore
      const first = store.open("c", { clean: false, expiryInterval: 60, maxQueued: 10 })
      assert.isFalse(first.present)
      const parsed = Topic.parseFilter("a/+", 5) as Topic.ParsedFilter
      assert.isFalse(store.subscribe(first.session, parsed, sub("c", "a/+")))
      assert.isTrue(store.subscribe(first.session, parsed, sub("c", "a/+", { qos: 2 })))
      assert.deepStrictEqual(
        store.route(message("a/b")).map((d) => [d.session.clientId, d.qos]),
        [["c", 2]]
      )
      const again = store.open("c", { clean: false, expiryInterval: 60, maxQueued: 10 })
      assert.isTrue(again.present)
      assert.strictEqual(again.session, first.session)
      // Clean start: a new session, and the old subscriptions are gone.
      const clean = store.open("c", { clean: true, expiryInterval: 0, maxQueued: 10 })
      assert.isFalse(clean.present)
      assert.deepStrictEqual(store.route(message("a/b")), [])
    }).pipe(Effect.provide(SessionStore.layerMemory))
  )

  it.effect("keeps retained messages, and an empty payload clears them", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore.SessionStore
      store.retain(message("r/1", { retain: true }))
      store.retain(message("r/2", { retain: true }))
      assert.deepStrictEqual(
        store.retained(["r", "+"]).map((m) => m.topic),
        ["r/1", "r/2"]
      )
      store.retain(message("r/1", { retain: true, payload: new Uint8Array() }))
      assert.deepStrictEqual(
        store.retained(["r", "#"]).map((m) => m.topic),
        ["r/2"]
      )
    }).pipe(Effect.provide(SessionStore.layerMemory))
  )

  it.effect("ends an offline session when its expiry passes, unless the client comes back", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore.SessionStore
      const gone = store.open("gone", { clean: false, expiryInterval: 10, maxQueued: 10 }).session
      const back = store.open("back", { clean: false, expiryInterval: 10, maxQueued: 10 }).session
      store.offline(gone)
      store.offline(back)
      yield* TestClock.adjust("9 seconds")
      assert.isTrue(store.open("back", { clean: false, expiryInterval: 10, maxQueued: 10 }).present)
      assert.strictEqual(store.size(), 2)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(store.get("gone"), undefined)
      assert.strictEqual(store.get("back"), back)
      // Expiry 0 ends the session with its connection.
      const now = store.open("now", { clean: true, expiryInterval: 0, maxQueued: 10 }).session
      store.offline(now)
      assert.strictEqual(store.get("now"), undefined)
    }).pipe(Effect.provide(SessionStore.layerMemory))
  )

  it.effect("publishes a delayed will after its delay, at once when the session ends first, never after a resume", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore.SessionStore
      const published: Array<string> = []
      const will = (name: string, delay: number) => ({ delay, publish: () => published.push(name) })
      const open = (id: string, expiryInterval: number) =>
        store.open(id, { clean: false, expiryInterval, maxQueued: 10 }).session
      store.offline(open("delayed", 100), will("delayed", 5))
      store.offline(open("expires", 2), will("expires", 5))
      store.offline(open("resumed", 100), will("resumed", 5))
      open("resumed", 100)
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(published, ["expires"])
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(published, ["expires", "delayed"])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(published, ["expires", "delayed"])
    }).pipe(Effect.provide(SessionStore.layerMemory))
  )
})
