/**
 * The running server: listener, event hub, and the loop of each connection
 * (socket bytes → parser → handler; outbox → encoder → socket).
 */

import { Policy } from "@mqttest/behavior"
import { SessionStore, Topic } from "@mqttest/session"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as Config from "../Config.js"
import { CommandError, ConnectionNotFound, type ListenError } from "../ListenError.js"
import * as Listener from "../Listener.js"
import type { ServerEvent, Stats, StopReason } from "../ServerEvent.js"
import { Broker, type EventInput } from "./broker.js"
import * as Decisions from "./decisions.js"
import * as Dumper from "./dumper.js"
import * as EventHub from "./events.js"
import { makeHandler } from "./loop.js"
import * as Routing from "./routing.js"
import type * as Shape from "./shape.js"
import type * as Transport from "./transport.js"

export type Engine = Omit<Shape.Shape, "waitFor">

const textEncoder = new TextEncoder()

/** DISCONNECT reason codes the spec lets a server send (MQTT 5, section 3.14.2.1). */
const serverDisconnectCodes: ReadonlyArray<number> = [
  0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
  0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2
]

/**
 * The time of a Clock in milliseconds with a microsecond fraction. For the
 * live Clock it is read as `performance.timeOrigin + performance.now()` (the
 * same wall time): profiled, the live Clock's nanoseconds (BigInt hrtime,
 * `Date.now`, a skew check) took 14 % of the CPU of a QoS 0 fan-in, for a
 * timestamp per event. Any other Clock (TestClock) is read as it is.
 */
const liveClockClass = Clock.Clock.defaultValue().constructor
const clockMillis = (clock: Clock.Clock): (() => number) =>
  clock.constructor === liveClockClass
    ? () => performance.timeOrigin + performance.now()
    : () => Number(clock.currentTimeNanosUnsafe() / 1000n) / 1000

/**
 * A server with this (decoded) config, built on the Policy, SessionStore and
 * Listener services in the context.
 */
export const make = (
  config: Config.Resolved
): Effect.Effect<Engine, ListenError, Scope.Scope | Policy.Policy | SessionStore.SessionStore | Listener.Listener> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    // Milliseconds with a microsecond fraction (dumps show microseconds).
    const now = clockMillis(clock)

    // ------------------------------------------------------------- events
    const hub = EventHub.make(config.eventBufferSize, () => ({
      _tag: "Warning",
      timestamp: now(),
      message: `event buffer full (${config.eventBufferSize} events): a slow reader loses its oldest events`
    }))
    const dumper = yield* Dumper.make(config, (message) => hub.publish({ _tag: "Warning", timestamp: now(), message }))
    const emit = (input: EventInput) => {
      // Every caller passes a fresh object literal: it becomes the event (no copy per event).
      ;(input as { timestamp?: number }).timestamp = now()
      const event = input as ServerEvent
      hub.publish(event)
      dumper?.write(event)
    }

    const policy = yield* Policy.Policy
    const forkServer = yield* FiberSet.makeRuntime<never>()
    const store = yield* SessionStore.SessionStore
    const broker: Broker = new Broker({
      config,
      now,
      emit,
      store,
      route: (message) => void Routing.publish(broker, message)
    })

    // ----------------------------------------------------------- listener
    // Every connection runs in a fiber of the server's scope; `handle` is defined below.
    const forkConnection = yield* FiberSet.makeRuntime<never>()
    const handle = makeHandler({
      broker,
      policy,
      now,
      emit,
      accepting: () => state === "running",
      dumped: dumper?.flushed ?? Effect.void,
      dumpLagging: () => dumper?.lagging() ?? false,
      onClosed: () => {
        if (allClosed !== undefined && broker.connections.size === 0) Deferred.doneUnsafe(allClosed, Exit.void)
        closedConnections++
        if (config.maxConnect !== undefined && closedConnections >= config.maxConnect && state === "running") {
          forkServer(stopWith("MaxConnect"))
        }
      }
    })
    const onLink = (link: Transport.Link, connection: number) => void forkConnection(handle(link, connection))
    const listeners = yield* Listener.Listener
    // Connections are numbered in accept order, by their listener, when the socket is accepted (a TLS
    // connection before its handshake): the number that per-connection options and lists go by.
    let nextConnection = 0
    const handlers: Listener.Handlers = {
      reserve: () => nextConnection++,
      onLink,
      warn: (message) => emit({ _tag: "Warning", message }),
      certificateFault: (connection) => {
        const fault = policy.connection(connection).behavior.certificateFault
        if (fault === undefined) return undefined
        return {
          fault,
          report: () =>
            emit({
              _tag: "FaultInjected",
              connection,
              fault: "certificateFault",
              detail: `TLS handshake with a ${fault} server certificate`
            })
        }
      }
    }
    let listener = yield* listeners.listen(handlers)
    const { host, port, url, addresses } = listener

    let state: "running" | "stopping" | "stopped" = "running"
    let allClosed: Deferred.Deferred<void> | undefined
    const finished = yield* Deferred.make<Shape.Finished>()
    let closedConnections = 0

    // Going offline closes the listener (new clients are refused); live connections are dropped
    // (FIN, or RST with `reset`) unless `keep` is set.
    let offline = false
    const goOnline: Effect.Effect<void, ListenError> = Effect.suspend(() => {
      if (!offline || state !== "running") return Effect.void
      return Effect.gen(function* () {
        listener = yield* listener.reopen
        offline = false
        emit({ _tag: "Warning", message: `back online on ${addresses.map((a) => a.url).join(", ")}` })
      })
    })
    const goOffline = (options?: Config.OfflineOptions) =>
      Effect.suspend(() => {
        if (offline || state !== "running") return Effect.void
        offline = true
        const dropped = options?.keep === true ? "kept" : options?.reset === true ? "dropped (RST)" : "dropped"
        emit({
          _tag: "Warning",
          message: `offline${options?.duration !== undefined ? ` for ${options.duration} ms` : ""}: new connections refused, live ones ${dropped}`
        })
        if (options?.keep !== true) {
          for (const conn of broker.connections.values()) {
            broker.report(conn, {
              fault: "offline",
              detail: options?.reset === true ? "connection reset" : "connection closed"
            })
            broker.abort(conn, "Offline", options?.reset === true ? "reset" : "destroy")
          }
        }
        return listener.close.pipe(
          Effect.andThen(
            options?.duration === undefined
              ? Effect.void
              : Effect.sync((): void => {
                  forkServer(
                    Effect.sleep(Duration.millis(options.duration!)).pipe(
                      Effect.andThen(goOnline),
                      Effect.catch((error) => Effect.sync(() => emit({ _tag: "Warning", message: error.message })))
                    )
                  )
                })
          )
        )
      })
    emit({ _tag: "Listening", host, port })

    // ----------------------------------------------------------- commands
    const find = (connection: number) =>
      Effect.suspend(() => {
        const conn = broker.connections.get(connection)
        return conn === undefined || conn.closing !== undefined
          ? Effect.fail(new ConnectionNotFound({ connection }))
          : Effect.succeed(conn)
      })

    const stopWith = (reason: StopReason): Effect.Effect<Stats> =>
      Effect.uninterruptible(
        Effect.suspend((): Effect.Effect<Stats> => {
          if (state !== "running") return Effect.map(Deferred.await(finished), (f) => f.stats)
          state = "stopping"
          return Effect.gen(function* () {
            if (broker.connections.size > 0) {
              allClosed = yield* Deferred.make<void>()
              for (const conn of broker.connections.values()) {
                if (conn.outbox.size > 0 && conn.closing === undefined) {
                  // A client that has not taken what is queued for it would hold the stop up: closed at once.
                  broker.abort(conn, "ServerStopped")
                } else {
                  broker.close(conn, "ServerStopped", 0x8b)
                }
              }
              // A peer that stops reading now cannot hold the stop up either: after a grace period its socket is destroyed.
              const waiting = allClosed
              yield* Deferred.await(waiting).pipe(
                Effect.timeoutOrElse({
                  duration: Duration.millis(500),
                  orElse: () =>
                    Effect.sync(() => {
                      for (const conn of broker.connections.values()) conn.io.destroy()
                    }).pipe(Effect.andThen(Deferred.await(waiting)))
                }),
                // Real time, even under TestClock: a writer asleep on the test's clock must not hold the stop up.
                Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
              )
            }
            yield* listener.close
            const stats = broker.stats()
            state = "stopped"
            // The last event: every event stream ends with it.
            hub.end({ _tag: "ServerStopped", timestamp: now(), reason, stats })
            // Every entry of every packet is written and synced before the stop completes.
            if (dumper !== undefined) yield* dumper.close
            yield* Deferred.succeed(finished, { stats, events: hub.snapshot() })
            return stats
          })
        })
      )
    if (config.offline !== undefined) {
      const { after, ...options } = config.offline
      forkServer(Effect.sleep(Duration.millis(after)).pipe(Effect.andThen(goOffline(options))))
    }
    const stop = stopWith("Stopped")
    yield* Effect.addFinalizer(() => stop)
    if (config.maxRuntime !== undefined) {
      forkServer(Effect.sleep(Duration.millis(config.maxRuntime)).pipe(Effect.andThen(stopWith("MaxRuntime"))))
    }

    return {
      host,
      port,
      url,
      urls: addresses.map((address) => address.url),
      transport: listeners.transport,
      connectStream: () => listener.connect(),
      events: hub.stream,
      eventsAfter: hub.streamAfter,
      mark: Effect.sync(hub.mark),
      recentEvents: Effect.sync(hub.snapshot),
      send: (connection, packet) => Effect.map(find(connection), (conn) => conn.send(packet)),
      publish: (topic, payload, options) =>
        Effect.suspend(() => {
          const problem = Topic.validateName(topic)
          return problem === undefined
            ? Effect.void
            : Effect.fail(new CommandError({ command: "publish", problem: `${problem.problem} [${problem.spec}]` }))
        }).pipe(
          Effect.andThen(
            Effect.sync(
              () =>
                void Routing.publish(broker, {
                  topic,
                  payload: typeof payload === "string" ? textEncoder.encode(payload) : payload,
                  qos: options?.qos ?? 0,
                  retain: options?.retain ?? false,
                  properties: options?.properties,
                  publisher: undefined,
                  receivedAt: now()
                })
            )
          )
        ),
      disconnect: (connection, reasonCode) =>
        reasonCode !== undefined && !serverDisconnectCodes.includes(reasonCode)
          ? Effect.fail(
              new CommandError({
                command: "disconnect",
                problem: `expected a DISCONNECT reason code a server may send (${serverDisconnectCodes.map((c) => `0x${c.toString(16).padStart(2, "0")}`).join(", ")}), got ${reasonCode}`
              })
            )
          : Effect.map(find(connection), (conn) => broker.close(conn, "ServerDisconnect", reasonCode ?? 0x98)),
      goOffline,
      goOnline,
      blackhole: (target, options) =>
        Effect.suspend(() => {
          const targets =
            target === "all"
              ? [...broker.connections.values()]
              : [broker.connections.get(target)].filter((c) => c !== undefined)
          if (target !== "all" && targets.length === 0)
            return Effect.fail(new ConnectionNotFound({ connection: target }))
          const apply = () => {
            for (const conn of targets) Decisions.blackhole(broker, conn)
          }
          if (options?.after === undefined) return Effect.sync(apply)
          forkServer(Effect.sleep(Duration.millis(options.after)).pipe(Effect.andThen(Effect.sync(apply))))
          return Effect.void
        }),
      configure: (update) =>
        Config.decodeBehavior(update).pipe(
          Effect.flatMap(policy.configure),
          Effect.map((options) => emit({ _tag: "BehaviorChanged", options }))
        ),
      reset: Effect.map(policy.reset, (options) => emit({ _tag: "BehaviorChanged", options, reset: true })),
      stop,
      stats: Effect.sync(() => broker.stats()),
      finished: Deferred.await(finished)
    } satisfies Engine
  })
