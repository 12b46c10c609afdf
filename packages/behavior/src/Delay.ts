/**
 * Delays as Schedules. A test writes a delay as JSON-friendly data (a fixed
 * number of milliseconds, a seeded random range, a growing delay, each
 * optionally limited to a number of times) or, from code, as any Effect
 * `Schedule`; either way the server steps through it once per occurrence
 * (each acknowledgement, each resend), so the Nth occurrence gets the
 * schedule's Nth delay, and an exhausted schedule means "no more".
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const times = Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))

/**
 * A delay as data.
 * - `250`: 250 ms every time;
 * - `{ fixed: 250, times: 3 }`: 250 ms for the first 3 occurrences only;
 * - `{ random: [100, 500] }`: uniformly between 100 and 500 ms (seeded);
 * - `{ exponential: 100, factor: 2, max: 5000 }`: 100, 200, 400, … ms, at most 5000.
 * @since 0.1.0
 */
export const DelaySpec = Schema.Union([
  Millis,
  Schema.Struct({ fixed: Millis, times }),
  Schema.Struct({
    random: Schema.Tuple([Millis, Millis]).check(
      Schema.makeFilter(([min, max]: readonly [number, number]) =>
        min <= max ? undefined : `expected [min, max] with min ≤ max, got [${min}, ${max}]`
      )
    ),
    times
  }),
  Schema.Struct({
    exponential: Millis,
    factor: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1))),
    max: Schema.optionalKey(Millis),
    times
  })
])
/** @since 0.1.0 */
export type DelaySpec = typeof DelaySpec.Type

/**
 * Any Effect Schedule, for library users (not expressible in a config file).
 * @since 0.1.0
 */
export const ScheduleValue = Schema.declare((u: unknown): u is Schedule.Schedule<unknown> => Schedule.isSchedule(u), {
  title: "Schedule",
  description: "an Effect Schedule (library only)"
})

/**
 * What a delay may be, as error messages say it.
 * @since 0.1.0
 */
export const expected =
  "a number of ms, { fixed, times? }, { random: [min, max], times? }, { exponential, factor?, max?, times? } or an Effect Schedule"

/**
 * A delay: data or a Schedule.
 * @since 0.1.0
 */
export const Delay = Schema.Union([DelaySpec, ScheduleValue]).annotate({ expected })
/** @since 0.1.0 */
export type Delay = typeof Delay.Type

/**
 * The Schedule of a delay.
 * @since 0.1.0
 */
export const toSchedule = (delay: Delay): Schedule.Schedule<unknown> => {
  if (Schedule.isSchedule(delay)) return delay
  if (typeof delay === "number") return Schedule.spaced(Duration.millis(delay))
  const limit = (schedule: Schedule.Schedule<unknown>) =>
    delay.times === undefined ? schedule : Schedule.upTo(schedule, { times: delay.times })
  if ("fixed" in delay) return limit(Schedule.spaced(Duration.millis(delay.fixed)))
  if ("random" in delay) {
    const [min, max] = delay.random
    return limit(
      Schedule.modifyDelay(Schedule.forever, () =>
        Effect.map(Random.nextBetween(Math.min(min, max), Math.max(min, max)), (ms) => Duration.millis(Math.round(ms)))
      )
    )
  }
  const { exponential: base, factor = 2, max } = delay
  const grown = Schedule.exponential(Duration.millis(base), factor)
  return limit(
    max === undefined
      ? grown
      : Schedule.modifyDelay(grown, ({ duration }) => Effect.succeed(Duration.min(duration, Duration.millis(max))))
  )
}

/**
 * Steps through a delay's schedule: each `next` is the delay of the next
 * occurrence, or undefined once the schedule is exhausted.
 * @since 0.1.0
 */
export interface Stepper {
  readonly next: Effect.Effect<Duration.Duration | undefined>
}

/**
 * A stepper for a delay, drawing random delays from `random` (a seeded
 * generator makes a run reproducible). Made synchronously; the schedule is
 * started on the first `next`.
 * @since 0.1.0
 */
export const stepper = (delay: Delay, random: Random.Random): Stepper => {
  type Step = Effect.Success<ReturnType<typeof Schedule.toStep<unknown, unknown, never, never>>>
  let started: Step | undefined
  const step = Effect.suspend(() =>
    started !== undefined
      ? Effect.succeed(started)
      : Effect.map(Schedule.toStep(toSchedule(delay)), (made) => {
          started = made
          return made
        })
  )
  return {
    next: Effect.flatMap(step, (step) =>
      Clock.currentTimeMillis.pipe(Effect.flatMap((now) => step(now, undefined)))
    ).pipe(
      Effect.map(([, duration]) => duration as Duration.Duration | undefined),
      Effect.catchCause((cause) =>
        Pull.isDoneCause(cause) ? Effect.succeed(undefined) : Effect.die(Cause.squash(cause))
      ),
      Effect.provideService(Random.Random, random)
    )
  }
}

/**
 * A seeded random generator that keeps its state between uses: the same
 * seed gives the same sequence. The seed is hashed (FNV-1a) into the state
 * of a mulberry32 generator; 32 bits a draw are plenty for delays,
 * probabilities and packet ids.
 * @since 0.1.0
 */
export const seededRandom = (seed: number | string): Random.Random => {
  let state = 0x811c9dc5
  for (const char of String(seed)) state = Math.imul(state ^ char.charCodeAt(0), 0x01000193) >>> 0
  const nextDoubleUnsafe = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    nextDoubleUnsafe,
    nextIntUnsafe: () =>
      Math.floor(nextDoubleUnsafe() * (Number.MAX_SAFE_INTEGER - Number.MIN_SAFE_INTEGER + 1)) + Number.MIN_SAFE_INTEGER
  }
}
