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
import { Context, Effect, Layer } from "effect"
import * as Transport from "./internal/transport.js"
import { ListenError } from "./ListenError.js"

/**
 * One accepted connection, as the server sees it.
 * @since 0.1.0
 */
export type Link = Transport.Link

/**
 * A listener that accepts connections.
 * @since 0.1.0
 */
export interface Bound {
  readonly host: string
  readonly port: number
  /** Stops accepting connections; accepted ones are not touched. */
  readonly close: Effect.Effect<void>
  /** A client's stream to this listener (refused once it is closed). */
  readonly connect: () => Duplex
}

const bind = (host: string, port: number, onLink: (link: Transport.Link) => void) =>
  Effect.callback<Net.Server, NodeJS.ErrnoException>((resume) => {
    const server = Net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => onLink(Transport.tcp(socket)))
    const onError = (error: NodeJS.ErrnoException) => resume(Effect.fail(error))
    server.once("error", onError)
    server.listen({ host, port }, () => {
      server.off("error", onError)
      // Errors after listening (e.g. EMFILE on accept) must not crash the process.
      server.on("error", () => {})
      resume(Effect.succeed(server))
    })
  })

/** Listens on `host` at the first port from `from` to `to` that binds. */
const listenTcp = (
  host: string,
  from: number,
  to: number,
  onLink: (link: Transport.Link) => void
): Effect.Effect<Bound, ListenError> =>
  Effect.gen(function* () {
    let lastError = "no port tried"
    for (let port = from; port <= to; port++) {
      const bound = yield* Effect.result(bind(host, port, onLink))
      if (bound._tag === "Success") {
        const server = bound.success
        const address = server.address() as Net.AddressInfo
        return {
          host: address.address,
          port: address.port,
          close: Effect.sync(() => void server.close()),
          connect: () => Net.createConnection({ host: address.address, port: address.port })
        }
      }
      lastError = bound.failure.message
      // Only a port that is taken (or reserved) moves on to the next one.
      if (bound.failure.code !== "EADDRINUSE" && bound.failure.code !== "EACCES") break
    }
    return yield* new ListenError({ host, from, to, lastError })
  })

/**
 * The in-memory listener: no port, no network. Each `connect` makes a duplex
 * pair, hands the server's side to `onLink` and returns the client's side
 * (for MQTT.js, a stream builder). Closed, it refuses as TCP does.
 */
const listenMemory = (onLink: (link: Transport.Link) => void): Bound => {
  let open = true
  let accepted = 0
  return {
    host: "memory",
    port: 0,
    close: Effect.sync(() => {
      open = false
    }),
    connect: () => {
      if (!open) return Transport.refused()
      const pair = Transport.memoryPair()
      onLink(Transport.memory(pair, accepted++))
      return pair.client
    }
  }
}

/**
 * The members of the `Listener` service.
 * @since 0.1.0
 */
export interface Shape {
  /** What carries the connections. */
  readonly transport: "tcp" | "memory"
  /**
   * Starts accepting: every accepted connection goes to `onLink`. With `port`,
   * on that port only (a server going back online keeps its port).
   */
  readonly listen: (onLink: (link: Link) => void, port?: number) => Effect.Effect<Bound, ListenError>
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
  listen: (onLink, port) => listenTcp(options.host, port ?? options.ports.from, port ?? options.ports.to, onLink)
})

/**
 * An in-memory listener: no port, no network; clients connect through `Bound.connect`.
 * @since 0.1.0
 */
export const memory: Shape = {
  transport: "memory",
  listen: (onLink) => Effect.sync(() => listenMemory(onLink))
}

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
