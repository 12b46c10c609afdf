import { assert, describe, it } from "@effect/vitest"
import { Topic } from "@mqttest/session"

describe("Topic", () => {
  it("matches the specification's examples", () => {
    const cases: ReadonlyArray<readonly [string, string, boolean]> = [
      ["sport/tennis/player1/#", "sport/tennis/player1", true],
      ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
      ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
      ["sport/#", "sport", true],
      ["#", "sport/tennis", true],
      ["sport/tennis/+", "sport/tennis/player1", true],
      ["sport/tennis/+", "sport/tennis/player1/ranking", false],
      ["sport/+", "sport", false],
      ["sport/+", "sport/", true],
      ["+/+", "/finance", true],
      ["/+", "/finance", true],
      ["+", "/finance", false],
      ["+/tennis/#", "sport/tennis", true],
      ["a/b", "a/b", true],
      ["a/b", "a/b/c", false],
      ["A/b", "a/b", false]
    ]
    for (const [filter, name, expected] of cases) {
      assert.strictEqual(Topic.matches(filter, name), expected, `${filter} ~ ${name}`)
    }
  })

  it("does not match $ topics with a leading wildcard [MQTT-4.7.2-1]", () => {
    assert.isFalse(Topic.matches("#", "$SYS/uptime"))
    assert.isFalse(Topic.matches("+/uptime", "$SYS/uptime"))
    assert.isTrue(Topic.matches("$SYS/#", "$SYS/uptime"))
    assert.isTrue(Topic.matches("$SYS/+", "$SYS/uptime"))
  })

  it("rejects topic names with wildcards or no characters", () => {
    assert.strictEqual(Topic.validateName("a/+/b")?.spec, "MQTT-3.3.2-2")
    assert.strictEqual(Topic.validateName("a/#")?.spec, "MQTT-3.3.2-2")
    assert.strictEqual(Topic.validateName("")?.spec, "MQTT-4.7.3-1")
    assert.isUndefined(Topic.validateName("a/b c/ü"))
  })

  it("rejects misplaced wildcards in filters", () => {
    const problem = (filter: string) => {
      const parsed = Topic.parseFilter(filter, 4)
      return Topic.isProblem(parsed) ? parsed.spec : undefined
    }
    assert.strictEqual(problem("sport/tennis#"), "MQTT-4.7.1-2")
    assert.strictEqual(problem("sport/tennis/#/ranking"), "MQTT-4.7.1-2")
    assert.strictEqual(problem("sport+"), "MQTT-4.7.1-3")
    assert.strictEqual(problem(""), "MQTT-4.7.3-1")
    assert.isUndefined(problem("+/+/#"))
  })

  it("parses MQTT 5 shared subscriptions", () => {
    const parsed = Topic.parseFilter("$share/group/a/+", 5)
    assert.deepStrictEqual(parsed, { filter: "$share/group/a/+", levels: ["a", "+"], shareGroup: "group" })
    const old = Topic.parseFilter("$share/group/a/+", 4)
    assert.isFalse(Topic.isProblem(old))
    assert.strictEqual((old as Topic.ParsedFilter).shareGroup, undefined)
    assert.isTrue(Topic.isProblem(Topic.parseFilter("$share/group", 5)))
    assert.isTrue(Topic.isProblem(Topic.parseFilter("$share//a", 5)))
  })
})
