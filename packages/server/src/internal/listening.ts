/**
 * What every listener has in common: the addresses it reports, binding the
 * first free port of a range, and what a bound listener offers.
 */
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import type { Fault } from "@mqttest/behavior"
import * as Effect from "effect/Effect"
import { ListenError } from "../ListenError.js"
import type * as Transport from "./transport.js"

/**
 * Where one listener accepts connections.
 * @since 0.1.0
 */
export interface Address {
  readonly transport: Transport.Kind
  readonly host: string
  readonly port: number
  /** For clients: `mqtt://host:port`, `mqtts://host:port`, `ws://host:port/mqtt`, `wss://…`, or `memory://mqttest`. */
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
  /** The number of the next connection (0, 1, …, in accept order): a listener takes one per accepted socket. */
  readonly reserve: () => number
  /** An accepted connection, with the number reserved for it when its socket was accepted. */
  readonly onLink: (link: Transport.Link, connection: number) => void
  /**
   * The certificate fault the test's policy chooses for TLS connection
   * `connection`, if any; `report` says it was served (a FaultInjected event).
   */
  readonly certificateFault: (
    connection: number
  ) => { readonly fault: Fault.CertificateFault; readonly report: () => void } | undefined
  /** A connection that never became one (e.g. a failed TLS handshake), said in words. */
  readonly warn: (message: string) => void
}

export const urlOf = (scheme: string, host: string, port: number, path = "") =>
  `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}${path}`

/** Listens with `server` on `host` at the first port from `from` to `to` that binds. */
export const bindFirst = (
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

export const boundTo = (
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
