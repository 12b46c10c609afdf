import { assert, describe, it } from "@effect/vitest"
import { SubscriptionIndex, Topic } from "@mqttest/session"
import { Schema } from "effect"

const sub = (clientId: string, topicFilter: string): SubscriptionIndex.Subscription => ({
  clientId,
  topicFilter,
  shareGroup: undefined,
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionIdentifier: undefined
})

const parse = (filter: string) => Topic.parseFilter(filter, 4) as Topic.ParsedFilter

describe("SubscriptionIndex", () => {
  it("adds, replaces, matches and removes", () => {
    const index = new SubscriptionIndex.SubscriptionIndex()
    assert.isFalse(index.add(parse("a/+"), sub("c1", "a/+")))
    assert.isTrue(index.add(parse("a/+"), { ...sub("c1", "a/+"), qos: 2 }))
    index.add(parse("#"), sub("c2", "#"))
    index.add(parse("a/b"), sub("c2", "a/b"))
    assert.strictEqual(index.size, 3)
    const matched = index
      .match("a/b")
      .map((s) => `${s.clientId}:${s.topicFilter}:${s.qos}`)
      .sort()
    assert.deepStrictEqual(matched, ["c1:a/+:2", "c2:#:1", "c2:a/b:1"])
    assert.isTrue(index.remove(parse("a/+"), "c1"))
    assert.isFalse(index.remove(parse("a/+"), "c1"))
    assert.deepStrictEqual(
      index.match("a/c").map((s) => s.topicFilter),
      ["#"]
    )
    assert.strictEqual(index.size, 2)
  })

  it("a topic matched before sees every later subscribe, replace and unsubscribe", () => {
    const index = new SubscriptionIndex.SubscriptionIndex()
    const seen = () =>
      index
        .match("a/b")
        .map((s) => `${s.clientId}:${s.topicFilter}:${s.qos}`)
        .sort()
    index.add(parse("a/b"), sub("c1", "a/b"))
    assert.deepStrictEqual(seen(), ["c1:a/b:1"])
    assert.deepStrictEqual(seen(), ["c1:a/b:1"])
    index.add(parse("a/#"), sub("c2", "a/#"))
    assert.deepStrictEqual(seen(), ["c1:a/b:1", "c2:a/#:1"])
    index.add(parse("a/b"), { ...sub("c1", "a/b"), qos: 0 })
    assert.deepStrictEqual(seen(), ["c1:a/b:0", "c2:a/#:1"])
    index.remove(parse("a/b"), "c1")
    assert.deepStrictEqual(seen(), ["c2:a/#:1"])
    // Many different topic names (more than it keeps) match as well.
    for (let i = 0; i < 3000; i++) assert.strictEqual(index.match(`a/${i}`).length, 1)
    assert.deepStrictEqual(seen(), ["c2:a/#:1"])
  })

  it("keeps $ topics away from leading wildcards", () => {
    const index = new SubscriptionIndex.SubscriptionIndex()
    index.add(parse("#"), sub("c", "#"))
    index.add(parse("+/x"), sub("c", "+/x"))
    index.add(parse("$SYS/#"), sub("c", "$SYS/#"))
    assert.deepStrictEqual(
      index.match("$SYS/x").map((s) => s.topicFilter),
      ["$SYS/#"]
    )
  })

  const level = Schema.Literals(["a", "b", "", "+", "#", "$x"])
  it.prop(
    "finds exactly the subscriptions whose filter matches",
    [Schema.Array(Schema.Array(level)), Schema.Array(Schema.Literals(["a", "b", "", "$x"]))],
    ([filters, topicLevels]) => {
      const topic = topicLevels.length === 0 ? "a" : topicLevels.join("/")
      const index = new SubscriptionIndex.SubscriptionIndex()
      const valid: Array<string> = []
      for (const levels of filters) {
        const filter = levels.length === 0 ? "a" : levels.join("/")
        const parsed = Topic.parseFilter(filter, 4)
        if (Topic.isProblem(parsed)) continue
        index.add(parsed, sub("c", filter))
        valid.push(filter)
      }
      const expected = [...new Set(valid)].filter((f) => Topic.matches(f, topic)).sort()
      const actual = index
        .match(topic)
        .map((s) => s.topicFilter)
        .sort()
      assert.deepStrictEqual(actual, expected)
    },
    { arbitrary: { runs: 500 } }
  )
})
