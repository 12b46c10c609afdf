/**
 * The mqttest server as an Effect service: acquire it in a test's scope,
 * point a client at `port`, assert on `events`, and it is torn down with the
 * scope.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import { Policy } from "@mqttest/behavior"
import { SessionStore } from "@mqttest/session"
import * as Clock from "effect/Clock"
import type * as EffectConfig from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Config from "./Config.js"
import * as Engine from "./internal/engine.js"
import type * as Shape from "./internal/shape.js"
import { type ListenError, WaitForTimeout } from "./ListenError.js"
import * as Listener from "./Listener.js"
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
 * A server with a decoded config, built on the `Policy`, `SessionStore` and
 * `Listener` services in the context (see `layerServer`).
 */
const makeServer = (
  config: Config.Resolved
): Effect.Effect<
  MqttServer["Service"],
  ListenError,
  Scope.Scope | Policy.Policy | SessionStore.SessionStore | Listener.Listener
> =>
  Effect.map(Engine.make(config), (engine) => {
    return MqttServer.of({
      ...engine,
      waitFor: (predicate, options) => {
        // Only matching events are queued for the waiter: a flood of others cannot push its event out.
        const found = engine.eventsAfter(options?.after ?? 0, predicate).pipe(
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

/** The listeners a config asks for: TCP on its host and ports (and TLS when configured), or in memory. */
const listenerOf = (config: Config.Resolved): Effect.Effect<Listener.Shape, Config.ConfigError> =>
  Effect.gen(function* () {
    if (config.transport === "memory") return Listener.memory
    const listeners: [Listener.Shape, ...Array<Listener.Shape>] = [Listener.tcp(config)]
    const tls = config.tls === undefined ? undefined : yield* tlsOptions(config.tls)
    if (config.tls !== undefined && tls !== undefined) {
      listeners.push(
        Listener.tls({
          host: config.host,
          ports: Config.portRange(config.tls.ports),
          tls,
          certificates: config.tls.certificates
        })
      )
    }
    if (config.ws !== undefined) {
      listeners.push(
        Listener.webSocket({ host: config.host, ports: Config.portRange(config.ws.ports), path: config.ws.path })
      )
    }
    if (config.wss !== undefined) {
      if (tls === undefined) {
        return yield* new Config.ConfigError({
          problem: "wss: a secure WebSocket listener needs the certificate and key of tls (tls.cert, tls.key)"
        })
      }
      listeners.push(
        Listener.webSocket({
          host: config.host,
          ports: Config.portRange(config.wss.ports),
          path: config.wss.path,
          tls
        })
      )
    }
    if (config.unix !== undefined) listeners.push(Listener.unix({ path: config.unix }))
    return Listener.all(listeners)
  })

/** Node's TLS server options for the config's `tls`. */
const tlsOptions = (tls: NonNullable<Config.Resolved["tls"]>) =>
  Effect.gen(function* () {
    const ca = tls.ca === undefined ? undefined : yield* pemOrFile("tls.ca", tls.ca)
    return {
      cert: yield* pemOrFile("tls.cert", tls.cert),
      key: yield* pemOrFile("tls.key", tls.key),
      ...(ca !== undefined ? { ca } : {}),
      requestCert: tls.clientAuth !== "none",
      rejectUnauthorized: tls.clientAuth === "require",
      ...(tls.minVersion !== undefined ? { minVersion: tls.minVersion } : {}),
      ...(tls.maxVersion !== undefined ? { maxVersion: tls.maxVersion } : {})
    }
  })

/** PEM text as it is, or the contents of the file it names (read when the server starts). */
const pemOrFile = (option: string, value: string): Effect.Effect<string, Config.ConfigError> =>
  value.includes("-----BEGIN")
    ? Effect.succeed(value)
    : Effect.try({
        try: () => Fs.readFileSync(value, "utf8"),
        catch: (cause) =>
          new Config.ConfigError({
            problem: `${option}: expected PEM text or the path of a PEM file, could not read ${JSON.stringify(value)}: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      })

/**
 * Starts a server in the current scope, with the default services: a
 * `Policy` with the config's behaviour options, sessions in memory, and the
 * listener the config asks for.
 * @since 0.1.0
 */
export const make = (
  input: Config.MqttestConfig = {}
): Effect.Effect<MqttServer["Service"], ListenError | Config.ConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    // The same Schema as a config file or a control command: a library object gets the same checks.
    const config = Config.resolve(yield* Config.decodeUnknown(input))
    const policy = yield* Policy.make(config.behavior)
    const store = yield* SessionStore.makeMemory
    return yield* makeServer(config).pipe(
      Effect.provideService(Policy.Policy, policy),
      Effect.provideService(SessionStore.SessionStore, store),
      Effect.provideService(Listener.Listener, yield* listenerOf(config))
    )
  })

/**
 * The server alone, on the `Policy`, `SessionStore` and `Listener` layers
 * you provide (e.g. a store that starts with sessions, a listener of your
 * own). The config's behaviour options and `transport`, `host` and `ports`
 * are then theirs to honour: only the default layers read them.
 * @since 0.1.0
 */
export const layerServer = (
  config: Config.MqttestConfig = {}
): Layer.Layer<
  MqttServer,
  ListenError | Config.ConfigError,
  Policy.Policy | SessionStore.SessionStore | Listener.Listener
> =>
  Layer.effect(
    MqttServer,
    Effect.flatMap(Config.decodeUnknown(config), (decoded) => makeServer(Config.resolve(decoded)))
  )

const layerResolved = (config: Config.Resolved) => Layer.effect(MqttServer, makeServer(config))

/**
 * A server bound to the configured host and port range, for the layer's
 * lifetime: `layerServer` on `Policy.layer` (the config's behaviour options),
 * `SessionStore.layerMemory` and the listener the config asks for.
 * @since 0.1.0
 */
export const layer = (config: Config.MqttestConfig = {}): Layer.Layer<MqttServer, ListenError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const resolved = Config.resolve(yield* Config.decodeUnknown(config))
      const listener = yield* listenerOf(resolved)
      return layerResolved(resolved).pipe(
        Layer.provide(
          Layer.mergeAll(
            Policy.layer(resolved.behavior),
            SessionStore.layerMemory,
            Layer.succeed(Listener.Listener, listener)
          )
        )
      )
    })
  )

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
