/**
 * The listening socket: binds the first free port of a range (or port 0,
 * the OS's choice) and hands each accepted socket, paused, to the server.
 * Closing it stops accepting (new clients are refused) and leaves the
 * accepted connections alone; the server closes those itself.
 */

import * as Net from "node:net"
import { Effect } from "effect"
import { ListenError } from "../ListenError.js"

export interface Listener {
  readonly host: string
  readonly port: number
  /** Stops accepting connections; accepted ones are not touched. */
  readonly close: Effect.Effect<void>
}

const bind = (host: string, port: number, onSocket: (socket: Net.Socket) => void) =>
  Effect.callback<Net.Server, NodeJS.ErrnoException>((resume) => {
    const server = Net.createServer({ pauseOnConnect: true, noDelay: true }, onSocket)
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
export const listen = (
  host: string,
  from: number,
  to: number,
  onSocket: (socket: Net.Socket) => void
): Effect.Effect<Listener, ListenError> =>
  Effect.gen(function* () {
    let lastError = "no port tried"
    for (let port = from; port <= to; port++) {
      const bound = yield* Effect.result(bind(host, port, onSocket))
      if (bound._tag === "Success") {
        const server = bound.success
        const address = server.address() as Net.AddressInfo
        return {
          host: address.address,
          port: address.port,
          close: Effect.sync(() => void server.close())
        }
      }
      lastError = bound.failure.message
      // Only a port that is taken (or reserved) moves on to the next one.
      if (bound.failure.code !== "EADDRINUSE" && bound.failure.code !== "EACCES") break
    }
    return yield* new ListenError({ host, from, to, lastError })
  })
