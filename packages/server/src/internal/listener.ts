/**
 * Listeners: where connections come from. TCP binds the first free port of a
 * range (or port 0, the OS's choice) and hands each accepted socket, paused,
 * to the server; the in-memory listener hands over one side of a duplex pair
 * for each `connect`. Closing a listener stops accepting (new clients are
 * refused) and leaves the accepted connections alone; the server closes
 * those itself.
 */

import * as Net from "node:net"
import type { Duplex } from "node:stream"
import { Effect } from "effect"
import { ListenError } from "../ListenError.js"
import * as Transport from "./transport.js"

export interface Listener {
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
export const listen = (
  host: string,
  from: number,
  to: number,
  onLink: (link: Transport.Link) => void
): Effect.Effect<Listener, ListenError> =>
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
export const listenMemory = (onLink: (link: Transport.Link) => void): Listener => {
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
