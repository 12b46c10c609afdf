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
import type { Duplex } from "node:stream"
import * as Tls from "node:tls"
import { Context, Effect, Layer } from "effect"
import * as Transport from "./internal/transport.js"
import { ListenError } from "./ListenError.js"

/**
 * One accepted connection, as the server sees it.
 * @since 0.1.0
 */
export type Link = Transport.Link

/**
 * Where one listener accepts connections.
 * @since 0.1.0
 */
export interface Address {
  readonly transport: "tcp" | "tls" | "memory"
  readonly host: string
  readonly port: number
  /** For clients: `mqtt://host:port`, `mqtts://host:port`, or `memory://mqttest`. */
  readonly url: string
}

/**
 * Listening: the first listener's address, every listener's, and how to stop
 * and start again.
 * @since 0.1.0
 */
export interface Bound extends Address {
  /** Every listener's address, the first one first. */
  readonly addresses: ReadonlyArray<Address>
  /** Stops accepting connections; accepted ones are not touched. */
  readonly close: Effect.Effect<void>
  /** Listens again, on the same ports (after `close`: a server going back online). */
  readonly reopen: Effect.Effect<Bound, ListenError>
  /** A client's stream to the first listener (refused once it is closed). */
  readonly connect: () => Duplex
}

/** What a listener tells the server: each accepted connection, and problems before one exists. */
export interface Handlers {
  readonly onLink: (link: Link) => void
  /** A connection that never became one (e.g. a failed TLS handshake), said in words. */
  readonly warn: (message: string) => void
}

const urlOf = (scheme: string, host: string, port: number) =>
  `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`

/** Listens with `server` on `host` at the first port from `from` to `to` that binds. */
const bindFirst = (
  makeServer: () => Net.Server,
  host: string,
  from: number,
  to: number
): Effect.Effect<Net.Server, ListenError> =>
  Effect.gen(function* () {
    let lastError = "no port tried"
    for (let port = from; port <= to; port++) {
      const bound = yield* Effect.result(
        Effect.callback<Net.Server, NodeJS.ErrnoException>((resume) => {
          const server = makeServer()
          const onError = (error: NodeJS.ErrnoException) => resume(Effect.fail(error))
          server.once("error", onError)
          server.listen({ host, port }, () => {
            server.off("error", onError)
            // Errors after listening (e.g. EMFILE on accept) must not crash the process.
            server.on("error", () => {})
            resume(Effect.succeed(server))
          })
        })
      )
      if (bound._tag === "Success") return bound.success
      lastError = bound.failure.message
      // Only a port that is taken (or reserved) moves on to the next one.
      if (bound.failure.code !== "EADDRINUSE" && bound.failure.code !== "EACCES") break
    }
    return yield* new ListenError({ host, from, to, lastError })
  })

const boundTo = (
  server: Net.Server,
  transport: "tcp" | "tls",
  reopen: (port: number) => Effect.Effect<Bound, ListenError>,
  connect: (host: string, port: number) => Duplex
): Bound => {
  const address = server.address() as Net.AddressInfo
  const self: Address = {
    transport,
    host: address.address,
    port: address.port,
    url: urlOf(transport === "tls" ? "mqtts" : "mqtt", address.address, address.port)
  }
  return {
    ...self,
    addresses: [self],
    close: Effect.sync(() => void server.close()),
    reopen: Effect.suspend(() => reopen(address.port)),
    connect: () => connect(address.address, address.port)
  }
}

/** TCP on `host`, at the first port from `from` to `to` that binds. */
const listenTcp = (host: string, from: number, to: number, handlers: Handlers): Effect.Effect<Bound, ListenError> =>
  Effect.map(
    bindFirst(
      () =>
        Net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => handlers.onLink(Transport.tcp(socket))),
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

/** Why a TLS handshake failed, in words that say which side rejected what. */
const handshakeProblem = (error: NodeJS.ErrnoException): string => {
  const text = `${error.code ?? ""} ${error.message}`
  if (/wrong version number|http request|unknown protocol|packet length too long|record layer failure/i.test(text)) {
    return "the client did not speak TLS (plain MQTT, HTTP or another protocol on the TLS port)"
  }
  if (/peer did not return a certificate|certificate required/i.test(text)) {
    return "the client sent no certificate, and the server requires one"
  }
  if (/alert (bad certificate|unknown ca|certificate unknown|certificate expired|decrypt error)/i.test(text)) {
    return `the client rejected the server's certificate (${error.message.trim().split("\n")[0]})`
  }
  if (/ECONNRESET|socket hang up|EPIPE/i.test(text)) {
    return "the client closed the connection during the handshake (as a client does when it rejects the server's certificate)"
  }
  if (/certificate|verify/i.test(text)) {
    return `the server rejected the client's certificate (${error.message.trim().split("\n")[0]})`
  }
  return error.message.trim().split("\n")[0] ?? ""
}

/**
 * TLS on `host`, at the first port from `from` to `to` that binds, with
 * these TLS options (certificate, key, CA, client certificates, versions):
 * each accepted socket is wrapped in a server-side TLS socket, handed to the
 * server once its handshake is done; a handshake that fails is a warning
 * that says which side rejected what.
 */
const listenTls = (
  host: string,
  from: number,
  to: number,
  options: Tls.TlsOptions,
  handlers: Handlers
): Effect.Effect<Bound, ListenError> =>
  Effect.suspend(() => {
    const context = Tls.createSecureContext(options)
    const accept = (raw: Net.Socket) => {
      const peer = `${raw.remoteAddress ?? "?"}:${raw.remotePort ?? "?"}`
      const socket = new Tls.TLSSocket(raw, {
        isServer: true,
        secureContext: context,
        requestCert: options.requestCert ?? false,
        rejectUnauthorized: options.rejectUnauthorized ?? false
      })
      // Until the handshake is done the connection is the listener's; one failure is reported once.
      let settled = false
      const failed = (problem: string) => {
        if (settled) return
        settled = true
        handlers.warn(`TLS handshake with ${peer} failed: ${problem}`)
      }
      socket.once("secure", () => {
        if (settled) return
        settled = true
        handlers.onLink(Transport.tls(socket))
      })
      socket.on("error", (error: NodeJS.ErrnoException) => {
        failed(handshakeProblem(error))
        socket.destroy()
      })
      socket.once("close", () =>
        failed(
          "the client closed the connection during the handshake (as a client does when it rejects the server's certificate)"
        )
      )
    }
    return Effect.map(
      bindFirst(() => Net.createServer({ noDelay: true }, accept), host, from, to),
      (server) =>
        boundTo(
          server,
          "tls",
          (port) => listenTls(host, port, port, options, handlers),
          (host, port) => Tls.connect({ host, port, rejectUnauthorized: false })
        )
    )
  })

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
      handlers.onLink(Transport.memory(pair, accepted++))
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
  readonly transport: "tcp" | "tls" | "memory"
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
}): Shape => ({
  transport: "tls",
  listen: (handlers) => listenTls(options.host, options.ports.from, options.ports.to, options.tls, handlers)
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
