/**
 * The transport seam: what the connection loop needs of a connection,
 * whatever carries it — a duplex byte stream, the peer's address, and an
 * abortive close. TCP sockets are one kind; in-memory duplex pairs (no port,
 * no network) are another.
 */
import * as Net from "node:net"
import { Duplex } from "node:stream"
import type * as Tls from "node:tls"

/** What carries a connection: TCP, TLS, WebSocket (over TCP or TLS), a Unix domain socket, or memory. */
export type Kind = "tcp" | "tls" | "ws" | "wss" | "unix" | "memory"

/** One accepted connection, as the connection loop sees it. */
export interface Link {
  /** The bytes both ways. */
  readonly duplex: Duplex
  /** What carries them. */
  readonly transport: Kind
  readonly remoteAddress: string
  readonly remotePort: number
  /** The subject of the client's certificate (TLS with client certificates), e.g. `CN=sensor-1`. */
  readonly clientCertificate?: string | undefined
  /** An abortive close: a TCP RST; in memory, the client's stream fails with ECONNRESET. */
  readonly reset: () => void
}

/** A link over an accepted TCP socket. */
export const tcp = (socket: Net.Socket): Link => {
  socket.setNoDelay(true)
  return {
    duplex: socket,
    transport: "tcp",
    remoteAddress: socket.remoteAddress ?? "",
    remotePort: socket.remotePort ?? 0,
    reset: () => void socket.resetAndDestroy()
  }
}

/** A link over a TLS connection whose handshake completed. */
export const tls = (socket: Tls.TLSSocket): Link => {
  socket.setNoDelay(true)
  const subject = socket.getPeerX509Certificate()?.subject.replaceAll("\n", ", ")
  return {
    duplex: socket,
    transport: "tls",
    remoteAddress: socket.remoteAddress ?? "",
    remotePort: socket.remotePort ?? 0,
    clientCertificate: subject,
    reset: () => void socket.resetAndDestroy()
  }
}

/** Ends a duplex after what is queued has been written (a TCP FIN), then releases it. */
export const endSoon = (duplex: Duplex): void => {
  if (duplex.destroyed) return
  if (duplex instanceof Net.Socket) return void duplex.destroySoon()
  duplex.end(() => duplex.destroy())
}

/** An error like the one Node gives a socket, with its `code`. */
const socketError = (code: "ECONNRESET" | "ECONNREFUSED", message: string): NodeJS.ErrnoException =>
  Object.assign(new Error(message), { code })

/** Two connected in-memory duplex streams, and the abortive close of one side. */
export interface MemoryPair {
  readonly client: Duplex
  readonly server: Duplex
  /** Closes `side` abortively: the other side's stream fails with ECONNRESET (as a TCP RST does). */
  readonly reset: (side: "client" | "server") => void
}

/**
 * Two connected in-memory duplex streams: what one writes, the other reads.
 * A write completes when the other side has taken it into its read buffer
 * (so a reader that stops reading pushes back on the writer, as TCP does);
 * ending one side ends the other's reading; destroying one side ends the
 * other's input, and a reset fails it.
 */
export const memoryPair = (): MemoryPair => {
  const sides: Array<Duplex> = []
  const waiting: Array<(() => void) | undefined> = [undefined, undefined]
  const resetting = [false, false]
  const side = (index: 0 | 1) =>
    new Duplex({
      allowHalfOpen: false,
      read() {
        // This side reads again: the other side's blocked write may complete.
        const resume = waiting[1 - index]
        waiting[1 - index] = undefined
        resume?.()
      },
      write(chunk: Buffer, _encoding, callback) {
        const peer = sides[1 - index]!
        if (peer.destroyed) return callback(socketError("ECONNRESET", "the other side of the connection is gone"))
        if (peer.push(chunk)) callback()
        else waiting[index] = () => callback()
      },
      final(callback) {
        sides[1 - index]!.push(null)
        callback()
      },
      destroy(error, callback) {
        const peer = sides[1 - index]!
        if (!peer.destroyed) {
          if (resetting[index]) peer.destroy(socketError("ECONNRESET", "connection reset by the other side"))
          else {
            peer.push(null)
            peer.end()
          }
        }
        waiting[index]?.()
        waiting[index] = undefined
        callback(error)
      }
    })
  sides.push(side(0), side(1))
  return {
    client: sides[0]!,
    server: sides[1]!,
    reset: (which) => {
      const index = which === "client" ? 0 : 1
      resetting[index] = true
      sides[index]!.destroy()
    }
  }
}

/** A link for the server's side of an in-memory pair. */
export const memory = (pair: MemoryPair, index: number): Link => ({
  duplex: pair.server,
  transport: "memory",
  remoteAddress: "memory",
  remotePort: index,
  reset: () => pair.reset("server")
})

/** A client stream that fails as a refused TCP connection does (the server is not accepting). */
export const refused = (): Duplex => {
  const { client } = memoryPair()
  queueMicrotask(() =>
    client.destroy(socketError("ECONNREFUSED", "connection refused: the in-memory server is not accepting"))
  )
  return client
}
