/**
 * The Unix domain socket listener: MQTT on a socket file, readable and
 * writable by its owner only. A socket file left over from an earlier run is
 * replaced; any other file at the path is an error (nothing else is ever
 * deleted). Closing the listener removes the socket file.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Effect from "effect/Effect"
import { ListenError } from "../ListenError.js"
import type { Address, Bound, Handlers } from "./listening.js"
import type * as Transport from "./transport.js"

const link = (socket: Net.Socket, index: number): Transport.Link => ({
  duplex: socket,
  transport: "unix",
  remoteAddress: "unix",
  remotePort: index,
  reset: () => void socket.resetAndDestroy()
})

export const listenUnix = (path: string, handlers: Handlers): Effect.Effect<Bound, ListenError> =>
  Effect.callback<Bound, ListenError>((resume) => {
    const failed = (problem: string) =>
      resume(Effect.fail(new ListenError({ host: "unix", from: 0, to: 0, path, lastError: problem })))
    const existing = Fs.lstatSync(path, { throwIfNoEntry: false })
    if (existing !== undefined) {
      if (!existing.isSocket()) return failed(`${path} exists and is not a socket: not replaced`)
      Fs.unlinkSync(path)
    }
    let accepted = 0
    const server = Net.createServer({ pauseOnConnect: true }, (socket) =>
      handlers.onLink(link(socket, accepted++), handlers.reserve())
    )
    server.once("error", (error) => failed(error.message))
    server.listen({ path }, () => {
      server.removeAllListeners("error")
      server.on("error", () => {})
      // Only the owner may connect (a test's client runs as the same user).
      Fs.chmodSync(path, 0o600)
      const self: Address = { transport: "unix", host: path, port: 0, url: `mqtt+unix://${path}` }
      resume(
        Effect.succeed({
          ...self,
          addresses: [self],
          close: Effect.sync(() => void server.close()),
          reopen: Effect.suspend(() => listenUnix(path, handlers)),
          connect: () => Net.createConnection({ path })
        })
      )
    })
  })
