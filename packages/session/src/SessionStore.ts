/**
 * The sessions of one server as a service: sessions by client id (created,
 * resumed, taken over, discarded), their subscriptions in one index, the
 * retained messages, routing a message to the sessions it goes to, and the
 * timers of sessions whose client went away (session expiry, delayed wills).
 * No sockets and no connections: the server says when a client comes and
 * goes, and what a will does when it is due.
 *
 * `layerMemory` keeps everything in memory (the default); a test, or a
 * persistent store, provides its own layer.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Message } from "./Message.js"
import { RetainedStore } from "./RetainedStore.js"
import * as Router from "./Router.js"
import { Session } from "./Session.js"
import { type Subscription, SubscriptionIndex } from "./SubscriptionIndex.js"
import type { ParsedFilter } from "./Topic.js"

/**
 * A session a message goes to, and how.
 * @since 0.1.0
 */
export interface Delivery extends Router.Target {
  readonly session: Session
}

/**
 * How a client's session starts when it connects.
 * @since 0.1.0
 */
export interface OpenOptions {
  /** Clean start / clean session: an existing session is discarded first. */
  readonly clean: boolean
  /** Seconds the session outlives the connection (0: ends with it; 0xFFFFFFFF: never expires). */
  readonly expiryInterval: number
  /** The bound of the session's message queue. */
  readonly maxQueued: number
}

/**
 * A will that waits for its delay after the client went away [MQTT-3.1.3-9].
 * @since 0.1.0
 */
export interface DelayedWill {
  /** Seconds to wait (the will's Will Delay Interval). */
  readonly delay: number
  /** Publishes the will: when the delay has passed, or the session ends first. */
  readonly publish: () => void
}

/**
 * The members of the `SessionStore` service. Every member is synchronous, so
 * a packet handler changes the sessions in one step.
 * @since 0.1.0
 */
export interface Shape {
  /** The session of a client id, if there is one. */
  readonly get: (clientId: string) => Session | undefined
  /** The number of sessions held. */
  readonly size: () => number
  /**
   * A client connected with this id: its session, resumed (its expiry and a
   * will still waiting for its delay are cancelled) or new; `present` says
   * which (CONNACK's Session Present).
   */
  readonly open: (clientId: string, options: OpenOptions) => { readonly session: Session; readonly present: boolean }
  /**
   * The session's client went away: the session ends now (expiry 0) or when
   * its expiry passes unless the client comes back; `will` waits for its
   * delay meanwhile.
   */
  readonly offline: (session: Session, will?: DelayedWill) => void
  /** Ends a session: its subscriptions go, and a will still waiting is published now. */
  readonly discard: (session: Session) => void
  /** Adds (or replaces) a subscription of a session; true when one with the same filter existed. */
  readonly subscribe: (session: Session, parsed: ParsedFilter, subscription: Subscription) => boolean
  /** Removes a subscription of a session; true when it existed. */
  readonly unsubscribe: (session: Session, parsed: ParsedFilter) => boolean
  /** Stores a retained message (an empty payload clears its topic). */
  readonly retain: (message: Message) => void
  /** The retained messages matching a filter (split into levels). */
  readonly retained: (levels: ReadonlyArray<string>) => ReadonlyArray<Message>
  /** The sessions a message goes to (see `Router.route`; shared groups in round robin). */
  readonly route: (message: Message) => ReadonlyArray<Delivery>
}

/**
 * @since 0.1.0
 */
export class SessionStore extends Context.Service<SessionStore, Shape>()("@mqttest/session/SessionStore") {}

const NEVER_EXPIRES = 0xffffffff

/**
 * A store in memory; its timers (session expiry, will delay) run on the
 * Clock and end with the scope.
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<Shape, never, Scope.Scope> = Effect.gen(function* () {
  const sessions = new Map<string, Session>()
  /** Sessions whose client is connected. */
  const online = new Set<Session>()
  const index = new SubscriptionIndex()
  const retainedStore = new RetainedStore()
  const pick = Router.roundRobin()
  /** Wills waiting for their delay, by session: how to publish each (its timer is `will/<client id>`). */
  const pendingWills = new Map<Session, () => void>()
  const runTimer = yield* FiberMap.makeRuntime<never, string>()
  const timer = (key: string, effect: Effect.Effect<void>) => void runTimer(key, effect)

  const resumed = (session: Session) => {
    online.add(session)
    timer(`expiry/${session.clientId}`, Effect.void)
    if (pendingWills.delete(session)) timer(`will/${session.clientId}`, Effect.void)
  }

  const discard = (session: Session) => {
    // A will still waiting for its delay goes out now: its session ends [MQTT-3.1.3-9].
    pendingWills.get(session)?.()
    timer(`expiry/${session.clientId}`, Effect.void)
    if (pendingWills.delete(session)) timer(`will/${session.clientId}`, Effect.void)
    online.delete(session)
    if (sessions.get(session.clientId) === session) sessions.delete(session.clientId)
    for (const subscription of session.subscriptions.values()) {
      index.remove(
        { filter: subscription.topicFilter, levels: levelsOf(subscription), shareGroup: subscription.shareGroup },
        session.clientId
      )
    }
    session.subscriptions.clear()
  }

  const delayWill = (session: Session, will: DelayedWill) => {
    const publish = () => {
      pendingWills.delete(session)
      will.publish()
    }
    pendingWills.set(session, publish)
    timer(
      `will/${session.clientId}`,
      Effect.sleep(Duration.seconds(will.delay)).pipe(
        Effect.andThen(
          Effect.sync(() => {
            if (pendingWills.get(session) === publish) publish()
          })
        )
      )
    )
  }

  return {
    get: (clientId) => sessions.get(clientId),
    size: () => sessions.size,
    open: (clientId, options) => {
      let session = sessions.get(clientId)
      if (session !== undefined && options.clean) {
        discard(session)
        session = undefined
      }
      if (session !== undefined) {
        resumed(session)
        session.expireAfter(options.expiryInterval)
        return { session, present: true }
      }
      const created = new Session(clientId, options.expiryInterval, options.maxQueued)
      sessions.set(clientId, created)
      online.add(created)
      return { session: created, present: false }
    },
    offline: (session, will) => {
      online.delete(session)
      if (will !== undefined) delayWill(session, will)
      const expiry =
        session.expiryOverride ?? (session.expiryInterval === NEVER_EXPIRES ? undefined : session.expiryInterval * 1000)
      if (expiry === 0) return discard(session)
      if (expiry === undefined) return
      timer(
        `expiry/${session.clientId}`,
        Effect.sleep(Duration.millis(expiry)).pipe(
          Effect.andThen(
            Effect.sync(() => {
              if (sessions.get(session.clientId) === session && !online.has(session)) discard(session)
            })
          )
        )
      )
    },
    discard,
    subscribe: (session, parsed, subscription) => {
      const existed = session.subscriptions.has(parsed.filter)
      session.subscriptions.set(parsed.filter, subscription)
      index.add(parsed, subscription)
      return existed
    },
    unsubscribe: (session, parsed) => {
      const existed = session.subscriptions.delete(parsed.filter)
      if (existed) index.remove(parsed, session.clientId)
      return existed
    },
    retain: (message) => retainedStore.set(message),
    retained: (levels) => retainedStore.match(levels),
    route: (message) => {
      const out: Array<Delivery> = []
      for (const target of Router.route(index.match(message.topic), message, pick)) {
        const session = sessions.get(target.clientId)
        if (session !== undefined) out.push({ ...target, session })
      }
      return out
    }
  } satisfies Shape
})

/** The levels of a subscription's filter (without its `$share/group/` prefix). */
const levelsOf = (subscription: Subscription): ReadonlyArray<string> =>
  (subscription.shareGroup === undefined
    ? subscription.topicFilter
    : subscription.topicFilter.slice(`$share/${subscription.shareGroup}/`.length)
  ).split("/")

/**
 * The sessions of one server, in memory.
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<SessionStore> = Layer.effect(SessionStore, makeMemory)

/**
 * A fresh store in memory, for tests.
 * @since 0.1.0
 */
export const layerTest: Layer.Layer<SessionStore> = layerMemory
