/**
 * The mqttest server as an Effect service: acquire it in a test's scope,
 * point a client at `port`, assert on `events`, and it is torn down with the
 * scope.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, type Config as EffectConfig, Layer, type Scope, Stream } from "effect"
import type * as Config from "./Config.js"
import * as Engine from "./internal/engine.js"
import type * as Shape from "./internal/shape.js"
import { type ListenError, WaitForTimeout } from "./ListenError.js"
import * as ServerEvent from "./ServerEvent.js"

/**
 * Options of {@link MqttServer.publish}.
 * @since 0.1.0
 */
export type PublishOptions = Shape.PublishOptions

/**
 * What {@link MqttServer.finished} returns.
 * @since 0.1.0
 */
export type Finished = Shape.Finished

/**
 * Options of {@link MqttServer.waitFor}.
 * @since 0.1.0
 */
export type WaitForOptions = Shape.WaitForOptions

/**
 * @since 0.1.0
 */
export class MqttServer extends Context.Service<MqttServer, Shape.Shape>()("@mqttest/server/MqttServer") {}
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
 * A server whose config comes from Effect's `Config` (environment variables,
 * a `ConfigProvider`), e.g.
 * `MqttServer.layerConfig(Config.all({ ports: Config.Int("MQTT_PORT") }))`;
 * the result is decoded like any other config.
 * @since 0.1.0
 */
export const layerConfig = (
  config: EffectConfig.Config<Config.MqttestConfig>
): Layer.Layer<MqttServer, ListenError | Config.ConfigError | EffectConfig.ConfigError> =>
  Layer.unwrap(Effect.map(config, layer))

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
