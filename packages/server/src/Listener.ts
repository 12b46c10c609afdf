/**
 * Where connections come from, as a service: a listener hands each accepted
 * connection (a `Link`: a duplex byte stream, the peer's address, an abortive
 * close) to the server. TCP binds the first free port of a range (or port 0,
 * the OS's choice) and hands over each socket, paused; the in-memory
 * listener hands over one side of a duplex pair for each `connect`. Closing
 * a listener stops accepting (new clients are refused) and leaves the
 * accepted connections alone; the server closes those itself.
 *
 * `MqttServer.layer` provides the listener its config asks for; a test (or a
 * new transport) provides its own `Listener` layer to `MqttServer.layerServer`.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"
import type * as Tls from "node:tls"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { FaultyCertificates } from "./internal/listenerOptions.js"
import { type Address, type Bound, bindFirst, boundTo, type Handlers } from "./internal/listening.js"
import * as Transport from "./internal/transport.js"
import type { ListenError } from "./ListenError.js"

// The TLS, WebSocket and Unix listeners are loaded when a server uses them: a plain TCP server (and
// the CLI's start) does not pay for TLS, HTTP and the WebSocket library.
const tlsModule = Effect.promise(() => import("./internal/tlsListener.js"))
const webSocketModule = Effect.promise(() => import("./internal/webSocketListener.js"))
const unixModule = Effect.promise(() => import("./internal/unixListener.js"))

/**
 * One accepted connection, as the server sees it.
 * @since 0.1.0
 */
export type Link = Transport.Link

export type {
  /** @since 0.1.0 */
  Address,
  /** @since 0.1.0 */
  Bound,
  /** @since 0.1.0 */
  Handlers
}

/** TCP on `host`, at the first port from `from` to `to` that binds. */
const listenTcp = (host: string, from: number, to: number, handlers: Handlers): Effect.Effect<Bound, ListenError> =>
  Effect.map(
    bindFirst(
      () =>
        Net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) =>
          handlers.onLink(Transport.tcp(socket), handlers.reserve())
        ),
      host,
      from,
      to
    ),
    (server) =>
      boundTo(
        server,
        "tcp",
        (port) => listenTcp(host, port, port, handlers),
        (host, port) => Net.createConnection({ host, port })
      )
  )

/**
 * The in-memory listener: no port, no network. Each `connect` makes a duplex
 * pair, hands the server's side to `onLink` and returns the client's side
 * (for MQTT.js, a stream builder). Closed, it refuses as TCP does.
 */
const listenMemory = (handlers: Handlers): Bound => {
  let open = true
  let accepted = 0
  const self: Address = { transport: "memory", host: "memory", port: 0, url: "memory://mqttest" }
  return {
    ...self,
    addresses: [self],
    close: Effect.sync(() => {
      open = false
    }),
    reopen: Effect.sync(() => listenMemory(handlers)),
    connect: () => {
      if (!open) return Transport.refused()
      const pair = Transport.memoryPair()
      handlers.onLink(Transport.memory(pair, accepted++), handlers.reserve())
      return pair.client
    }
  }
}

/**
 * The members of the `Listener` service.
 * @since 0.1.0
 */
export interface Shape {
  /** What carries the connections (of the first listener, when there are several). */
  readonly transport: Transport.Kind
  /** Starts accepting: every accepted connection goes to `handlers.onLink`. */
  readonly listen: (handlers: Handlers) => Effect.Effect<Bound, ListenError>
}

/**
 * @since 0.1.0
 */
export class Listener extends Context.Service<Listener, Shape>()("@mqttest/server/Listener") {}

/**
 * A TCP listener on `host`, at the first free port of `ports` (0: the OS picks one).
 * @since 0.1.0
 */
export const tcp = (options: {
  readonly host: string
  readonly ports: { readonly from: number; readonly to: number }
}): Shape => ({
  transport: "tcp",
  listen: (handlers) => listenTcp(options.host, options.ports.from, options.ports.to, handlers)
})

/**
 * A TLS listener (`mqtts://`) on `host`, at the first free port of `ports`,
 * with Node's TLS server options (`key`, `cert`, `ca`, `requestCert`,
 * `rejectUnauthorized`, `minVersion`, `maxVersion`, …).
 * @since 0.1.0
 */
export const tls = (options: {
  readonly host: string
  readonly ports: { readonly from: number; readonly to: number }
  readonly tls: Tls.TlsOptions
  /** The test's certificates: with them, the `certificateFault` behaviour serves faulty ones. */
  readonly certificates?: FaultyCertificates | undefined
}): Shape => ({
  transport: "tls",
  listen: (handlers) =>
    Effect.flatMap(tlsModule, (module) =>
      module.listenTls(options.host, options.ports.from, options.ports.to, options.tls, handlers, options.certificates)
    )
})

/**
 * A WebSocket listener (`ws://host:port/mqtt`, MQTT over WebSocket as the
 * spec's section 6 says: binary frames, the `mqtt` subprotocol) on `host`, at
 * the first free port of `ports`, on `path`; with `tls` (Node's TLS server
 * options), secure WebSocket (`wss://`). A client that does not offer the
 * `mqtt` subprotocol is refused with HTTP 400 and a Warning [MQTT-6.0.0-3].
 * @since 0.1.0
 */
export const webSocket = (options: {
  readonly host: string
  readonly ports: { readonly from: number; readonly to: number }
  readonly path: string
  readonly tls?: Tls.TlsOptions | undefined
}): Shape => ({
  transport: options.tls === undefined ? "ws" : "wss",
  listen: (handlers) =>
    Effect.flatMap(webSocketModule, (module) =>
      module.listenWebSocket(options.host, options.ports.from, options.ports.to, options.path, options.tls, handlers)
    )
})

/**
 * A Unix domain socket listener at `path` (`mqtt+unix://<path>` for MQTT.js,
 * `--unix <path>` for mosquitto's clients): the socket file is its owner's
 * only (0600), replaces a socket file left over from an earlier run, and is
 * removed when the listener closes; any other file at `path` is an error.
 * @since 0.1.0
 */
export const unix = (options: { readonly path: string }): Shape => ({
  transport: "unix",
  listen: (handlers) => Effect.flatMap(unixModule, (module) => module.listenUnix(options.path, handlers))
})

/**
 * An in-memory listener: no port, no network; clients connect through `Bound.connect`.
 * @since 0.1.0
 */
export const memory: Shape = {
  transport: "memory",
  listen: (handlers) => Effect.sync(() => listenMemory(handlers))
}

/**
 * Several listeners as one (e.g. TCP and TLS): connections from all of them
 * go to the server; the first one's address is the server's `host`/`port`/`url`.
 * @since 0.1.0
 */
export const all = (listeners: readonly [Shape, ...Array<Shape>]): Shape =>
  listeners.length === 1
    ? listeners[0]
    : {
        transport: listeners[0].transport,
        listen: (handlers) =>
          Effect.map(
            Effect.forEach(listeners, (listener) => listener.listen(handlers)),
            combine
          )
      }

/** Bound listeners as one. */
const combine = (bound: ReadonlyArray<Bound>): Bound => ({
  ...bound[0]!,
  addresses: bound.flatMap((b) => b.addresses),
  close: Effect.forEach(bound, (b) => b.close, { discard: true }),
  reopen: Effect.map(
    Effect.forEach(bound, (b) => b.reopen),
    combine
  ),
  connect: bound[0]!.connect
})

/**
 * A TCP listener as a layer.
 * @since 0.1.0
 */
export const layerTcp = (options: {
  readonly host: string
  readonly ports: { readonly from: number; readonly to: number }
}): Layer.Layer<Listener> => Layer.succeed(Listener, tcp(options))

/**
 * An in-memory listener as a layer.
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Listener> = Layer.succeed(Listener, memory)
