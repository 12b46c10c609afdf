import { assert, describe, it } from "@effect/vitest"
import { Behavior, Delay } from "@mqttest/behavior"
import { Duration, Effect, Schedule, Schema } from "effect"

describe("Behavior.resolve", () => {
  it("picks element N mod length of a list, skipping null", () => {
    const config: Behavior.BehaviorConfig = { maxPackets: [null, 3], maxTime: 1000 }
    assert.deepStrictEqual(Behavior.resolve(config, 0), { maxTime: 1000 })
    assert.deepStrictEqual(Behavior.resolve(config, 1), { maxPackets: 3, maxTime: 1000 })
    assert.deepStrictEqual(Behavior.resolve(config, 2), { maxTime: 1000 })
    assert.deepStrictEqual(Behavior.resolve(config, 5), { maxPackets: 3, maxTime: 1000 })
  })

  it("lets the first matching client id rule override the lists", () => {
    const config: Behavior.BehaviorConfig = {
      maxPackets: 10,
      maxTime: 1000,
      rules: [
        { clientId: { regex: "^sensor-" }, maxPackets: 1 },
        { clientId: "sensor-1", maxPackets: 2 }
      ]
    }
    assert.deepStrictEqual(Behavior.resolve(config, 0, "sensor-1"), { maxPackets: 1, maxTime: 1000 })
    assert.deepStrictEqual(Behavior.resolve(config, 0, "other"), { maxPackets: 10, maxTime: 1000 })
    // Before CONNECT the client id is unknown: only the lists apply.
    assert.deepStrictEqual(Behavior.resolve(config, 0), { maxPackets: 10, maxTime: 1000 })
  })

  it("decodes a config file's JSON and names the bad option", () => {
    const decode = Schema.decodeUnknownSync(Behavior.BehaviorConfig)
    const ok = decode({ ackDelay: { puback: 100, suback: { random: [10, 20] } }, maxPackets: [null, 2] })
    assert.deepStrictEqual(ok.maxPackets, [null, 2])
    assert.throws(() => decode({ maxPackets: "many" }), /maxPackets/)
    assert.throws(() => decode({ credentials: { username: "u", password: { hex: "zz" } } }), /hex/)
  })

  it("reads binary passwords from hex", () => {
    assert.deepStrictEqual(Behavior.passwordBytes({ hex: "00ff10" }), new Uint8Array([0, 255, 16]))
    assert.deepStrictEqual(Behavior.passwordBytes("ab"), new Uint8Array([97, 98]))
  })
})

const steps = (delay: Delay.Delay, n: number, seed = 1) =>
  Effect.gen(function* () {
    const stepper = Delay.stepper(delay, Delay.seededRandom(seed))
    const out: Array<number | undefined> = []
    for (let i = 0; i < n; i++) {
      const next = yield* stepper.next
      out.push(next === undefined ? undefined : Duration.toMillis(next))
    }
    return out
  })

describe("Delay", () => {
  it.effect("a number is the same delay every time", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* steps(250, 3), [250, 250, 250])
    })
  )

  it.effect("times limits the occurrences; after that there is no delay", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* steps({ fixed: 100, times: 2 }, 4), [100, 100, undefined, undefined])
    })
  )

  it.effect("exponential delays grow and are capped", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* steps({ exponential: 100, factor: 2, max: 500 }, 5), [100, 200, 400, 500, 500])
    })
  )

  it.effect("random delays stay in range and repeat under the same seed", () =>
    Effect.gen(function* () {
      const a = yield* steps({ random: [100, 200] }, 20, 7)
      const b = yield* steps({ random: [100, 200] }, 20, 7)
      const c = yield* steps({ random: [100, 200] }, 20, 8)
      assert.deepStrictEqual(a, b)
      assert.notDeepEqual(a, c)
      for (const ms of a) assert.isTrue(ms !== undefined && ms >= 100 && ms <= 200)
    })
  )

  it.effect("any Effect Schedule works too", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* steps(Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 1 })), 2), [
        1000,
        undefined
      ])
    })
  )
})

describe("Delay.seededRandom", () => {
  it("repeats under the same seed, differs under another, and stays in [0, 1)", () => {
    const draws = (seed: string) => {
      const random = Delay.seededRandom(seed)
      return Array.from({ length: 1000 }, () => random.nextDoubleUnsafe())
    }
    const a = draws("0/1/faults")
    assert.deepStrictEqual(a, draws("0/1/faults"))
    assert.notDeepEqual(a, draws("0/2/faults"))
    for (const x of a) assert.isTrue(x >= 0 && x < 1)
    // Spread over the range: each tenth gets a fair share of 1000 draws.
    for (let tenth = 0; tenth < 10; tenth++) {
      const count = a.filter((x) => Math.floor(x * 10) === tenth).length
      assert.isTrue(count > 60 && count < 140, `tenth ${tenth}: ${count}`)
    }
    assert.isTrue(Number.isSafeInteger(Delay.seededRandom(1).nextIntUnsafe()))
  })
})
