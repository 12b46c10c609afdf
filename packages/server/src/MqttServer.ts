/**
 * The mqttest server as an Effect service: acquire it in a test's scope,
 * point a client at `port`, assert on `events`, and it is torn down with the
 * scope.
 *
 * @since 0.1.0
 */
import type { Duplex } from "node:stream"
import type { Behavior } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import { Clock, Context, Duration, Effect, Layer, type Scope, Stream } from "effect"
import type * as Config from "./Config.js"
import * as Engine from "./internal/engine.js"
import { type CommandError, type ConnectionNotFound, type ListenError, WaitForTimeout } from "./ListenError.js"
import type { Stats } from "./ServerEvent.js"
import * as ServerEvent from "./ServerEvent.js"

/**
 * Options of {@link MqttServer.publish}.
 * @since 0.1.0
 */
export type PublishOptions = Engine.PublishOptions

/**
 * What {@link MqttServer.finished} returns.
 * @since 0.1.0
 */
export type Finished = Engine.Finished

/**
 * Options of {@link MqttServer.waitFor}.
 * @since 0.1.0
 */
export interface WaitForOptions {
  /**
   * Only events after this mark (from {@link MqttServer.mark}): "the next
   * matching event from here on". Default: every event still buffered.
   */
  readonly after?: number | undefined
  /**
   * Fail with `WaitForTimeout` when nothing matched in this time. Real time,
   * even under TestClock (a guard against a hanging test, not a test delay).
   */
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 */
export class MqttServer extends Context.Service<
  MqttServer,
  {
    /** The address the server is bound to (`"memory"` and 0 in memory). */
    readonly host: string
    readonly port: number
    /** `mqtt://host:port`, for clients (`memory://mqttest` in memory: use `connectStream`). */
    readonly url: string
    /** Where connections come from: `"tcp"` or `"memory"`. */
    readonly transport: "tcp" | "memory"
    /**
     * A new client connection to this server, as a duplex stream: in memory,
     * the only way in (no port, no network); over TCP, a socket to the port.
     * For MQTT.js: `new mqtt.MqttClient(() => server.connectStream(), options)`.
     */
    readonly connectStream: () => Duplex
    /**
     * Every server event. Each stream starts with the events still in the
     * event buffer (so a test cannot miss what happened before it looked),
     * then follows live events, and ends with `ServerStopped`.
     */
    readonly events: Stream.Stream<ServerEvent.ServerEvent>
    /** The events after a mark (see `mark`): buffered ones first, then live ones. */
    readonly eventsAfter: (mark: number) => Stream.Stream<ServerEvent.ServerEvent>
    /** The position after the latest event, for `waitFor({ after })` and `eventsAfter`. */
    readonly mark: Effect.Effect<number>
    /**
     * The first event (from the buffer or later; with `after`, only after that
     * mark) that satisfies a predicate; with `timeout`, fails with
     * `WaitForTimeout` naming the predicate when none comes in time.
     */
    readonly waitFor: <E extends ServerEvent.ServerEvent>(
      predicate: (event: ServerEvent.ServerEvent) => event is E,
      options?: WaitForOptions
    ) => Effect.Effect<E, WaitForTimeout>
    /** Writes any packet to a connection, as it is (for injecting packets). */
    readonly send: (connection: number, packet: Packet.Packet) => Effect.Effect<void, ConnectionNotFound>
    /**
     * Publishes an application message as the server, to every matching
     * subscriber; a topic name that is empty, has a wildcard or U+0000 fails
     * with `CommandError`.
     */
    readonly publish: (
      topic: string,
      payload: Uint8Array | string,
      options?: PublishOptions
    ) => Effect.Effect<void, CommandError>
    /**
     * Closes a connection; an MQTT 5 client gets a DISCONNECT with `reasonCode`
     * (default 0x98, administrative action) first. Its will is published.
     */
    readonly disconnect: (
      connection: number,
      reasonCode?: number
    ) => Effect.Effect<void, ConnectionNotFound | CommandError>
    /**
     * Blackholes a connection (or all): the server stops reading and writing it
     * but keeps the socket open — the half-dead peer only a client's keep alive
     * detects; with `after`, that many ms from now. Emits `FaultInjected`.
     */
    readonly blackhole: (
      target: number | "all",
      options?: { readonly after?: number | undefined }
    ) => Effect.Effect<void, ConnectionNotFound>
    /**
     * Goes offline: refuses new connections and drops the live ones (FIN, or
     * RST with `reset`; kept with `keep`), for `duration` ms or until `goOnline`.
     */
    readonly goOffline: (options?: {
      readonly duration?: number | undefined
      readonly reset?: boolean | undefined
      readonly keep?: boolean | undefined
    }) => Effect.Effect<void>
    /** Listens again (on the same port) after `goOffline`. */
    readonly goOnline: Effect.Effect<void, ListenError>
    /**
     * Changes behaviour options at runtime (any subset of the config's
     * behaviour options; `null` unsets one): new connections use them at
     * once, live connections from their next packet. Decoded with the
     * config's Schema (unknown options are errors). Emits `BehaviorChanged`.
     */
    readonly configure: (update: Behavior.BehaviorConfig) => Effect.Effect<void, Config.ConfigError>
    /** Restores the behaviour options the server started with. Emits `BehaviorChanged` with `reset: true`. */
    readonly reset: Effect.Effect<void>
    /** Stops the server: closes every connection and the listener; returns the final statistics. */
    readonly stop: Effect.Effect<Stats>
    /** Statistics so far (see `ServerEvent.Stats`). */
    readonly stats: Effect.Effect<Stats>
    /** Waits until the server has stopped (by `stop` or by releasing its scope). */
    readonly finished: Effect.Effect<Finished>
  }
>()("@mqttest/server/MqttServer") {}

/**
 * Starts a server in the current scope.
 * @since 0.1.0
 */
export const make = (
  config: Config.MqttestConfig = {}
): Effect.Effect<MqttServer["Service"], ListenError | Config.ConfigError, Scope.Scope> =>
  Effect.map(Engine.make(config), (engine) => {
    const url =
      engine.transport === "memory"
        ? "memory://mqttest"
        : `mqtt://${engine.host.includes(":") ? `[${engine.host}]` : engine.host}:${engine.port}`
    return MqttServer.of({
      ...engine,
      url,
      waitFor: (predicate, options) => {
        const found = (options?.after === undefined ? engine.events : engine.eventsAfter(options.after)).pipe(
          Stream.filter(predicate),
          Stream.runHead,
          Effect.flatMap((found) =>
            found._tag === "Some" ? Effect.succeed(found.value) : Effect.die(new Error("the server stopped first"))
          )
        )
        if (options?.timeout === undefined) return found
        const timeout = Duration.fromInputUnsafe(options.timeout)
        return found.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(
                new WaitForTimeout({
                  predicate: ServerEvent.describe(predicate),
                  timeout: Duration.toMillis(timeout)
                })
              )
          }),
          Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
        )
      }
    })
  })

/**
 * A server bound to the configured host and port range, for the layer's lifetime.
 * @since 0.1.0
 */
export const layer = (config: Config.MqttestConfig = {}): Layer.Layer<MqttServer, ListenError | Config.ConfigError> =>
  Layer.effect(MqttServer, make(config))

/**
 * A server in memory, for tests: no port and no network, so tests run in
 * parallel without touching either; clients connect through `connectStream`.
 * @since 0.1.0
 */
export const layerMemory = (
  config: Config.MqttestConfig = {}
): Layer.Layer<MqttServer, ListenError | Config.ConfigError> => layer({ ...config, transport: "memory" })

/**
 * A server for tests: 127.0.0.1, a port the OS picks, other options as given.
 * @since 0.1.0
 */
export const layerTest = (
  config: Config.MqttestConfig = {}
): Layer.Layer<MqttServer, ListenError | Config.ConfigError> => layer({ host: "127.0.0.1", ports: 0, ...config })
