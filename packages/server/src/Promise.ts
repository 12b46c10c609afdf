/**
 * The server for code that does not use Effect: `await start(config)`
 * returns a handle with the same commands as Promises, the events as an
 * async iterable, and `Symbol.asyncDispose`, so `await using` stops it.
 *
 * @since 0.1.0
 */
import type { Behavior } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Config from "./Config.js"
import * as MqttServer from "./MqttServer.js"
import type { ServerEvent, Stats } from "./ServerEvent.js"
import * as View from "./View.js"

/**
 * A running server.
 * @since 0.1.0
 */
export interface Handle
  extends Pick<MqttServer.MqttServer["Service"], "host" | "port" | "url" | "urls" | "transport" | "connectStream"> {
  /**
   * Every event: each `for await` starts with the events still buffered, then
   * follows live ones, and ends when the server stops.
   */
  readonly events: AsyncIterable<ServerEvent>
  /**
   * Resolves with the first event (buffered or later; with `after`, only after
   * that mark) that satisfies the predicate; with `timeout` (ms), rejects with
   * a `WaitForTimeout` naming the predicate when none comes in time.
   */
  readonly waitFor: <E extends ServerEvent>(
    predicate: (event: ServerEvent) => event is E,
    options?: MqttServer.WaitForOptions
  ) => Promise<E>
  /** The position after the latest event, for `waitFor(predicate, { after })`. */
  readonly mark: () => Promise<number>
  readonly send: (connection: number, packet: Packet.Packet) => Promise<void>
  readonly publish: (topic: string, payload: Uint8Array | string, options?: MqttServer.PublishOptions) => Promise<void>
  readonly disconnect: (connection: number, reasonCode?: number) => Promise<void>
  readonly stats: () => Promise<Stats>
  /** Drops every connection and refuses new ones (see `MqttServer.goOffline`). */
  readonly goOffline: (options?: Config.OfflineOptions) => Promise<void>
  /** Listens again after `goOffline`. */
  readonly goOnline: () => Promise<void>
  /** Blackholes a connection or all of them (see `MqttServer.blackhole`). */
  readonly blackhole: (target: number | "all", options?: { readonly after?: number }) => Promise<void>
  /** Changes behaviour options at runtime (see `MqttServer.configure`); rejects with a `ConfigError`. */
  readonly configure: (update: Behavior.BehaviorConfig) => Promise<void>
  /** Restores the behaviour options the server started with. */
  readonly reset: () => Promise<void>
  /** Stops the server (idempotent) and resolves with the final statistics. */
  readonly stop: () => Promise<Stats>
  /**
   * Writes the recent events (the event buffer, `eventBufferSize`) as an HTML
   * sequence diagram (see `View`), also after the server stopped: e.g. from
   * vitest's `onTestFailed`, so a failed test leaves its traffic behind.
   */
  readonly writeView: (path: string, options?: View.Options) => Promise<void>
  /** Resolves once the server has stopped, however it stopped. */
  readonly finished: Promise<MqttServer.Finished>
  readonly [Symbol.asyncDispose]: () => Promise<void>
}

/**
 * Starts a server. Rejects with a `ListenError` when no port can be bound,
 * or with a `ConfigError` naming each bad option when the config is invalid.
 * @since 0.1.0
 */
export const start = (config: Config.MqttestConfig = {}): Promise<Handle> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* MqttServer.make(config).pipe(
        Scope.provide(scope),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
      const stop = () => run(Effect.andThen(server.stop, (stats) => Effect.as(Scope.close(scope, Exit.void), stats)))
      const handle: Handle = {
        host: server.host,
        port: server.port,
        url: server.url,
        urls: server.urls,
        transport: server.transport,
        connectStream: server.connectStream,
        events: { [Symbol.asyncIterator]: () => Stream.toAsyncIterable(server.events)[Symbol.asyncIterator]() },
        waitFor: (predicate, options) => run(server.waitFor(predicate, options)),
        mark: () => run(server.mark),
        send: (connection, packet) => run(server.send(connection, packet)),
        publish: (topic, payload, options) => run(server.publish(topic, payload, options)),
        disconnect: (connection, reasonCode) => run(server.disconnect(connection, reasonCode)),
        stats: () => run(server.stats),
        configure: (update) => run(server.configure(update)),
        reset: () => run(server.reset),
        blackhole: (target, options) => run(server.blackhole(target, options)),
        goOffline: (options) => run(server.goOffline(options)),
        goOnline: () => run(server.goOnline),
        stop,
        writeView: (path, options) =>
          run(Effect.provideService(View.write(path, options), MqttServer.MqttServer, server)),
        finished: run(server.finished),
        [Symbol.asyncDispose]: () => stop().then(() => undefined)
      }
      return handle
    })
  )

/**
 * Reads and decodes a JSON config file, for `start`.
 * @since 0.1.0
 */
export const loadConfig = (path: string): Promise<Config.MqttestConfig> => Effect.runPromise(Config.loadFile(path))
