/**
 * The TLS listener: each accepted socket is wrapped in a server-side TLS
 * socket and handed to the server once its handshake is done.
 */
import * as Net from "node:net"
import type * as Tls from "node:tls"
import type { Fault } from "@mqttest/behavior"
import * as Effect from "effect/Effect"
import type { ListenError } from "../ListenError.js"
import type { FaultyCertificates } from "./listenerOptions.js"
import { type Bound, bindFirst, boundTo, type Handlers } from "./listening.js"
import * as Transport from "./transport.js"

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
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(error.message)
  if (alert !== null && !/certificate required/i.test(text)) {
    return `the client ended the handshake with a TLS alert (${alert[1]!.trim()}), as a client may when it rejects the server's certificate`
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
export const listenTls = (
  host: string,
  from: number,
  to: number,
  options: Tls.TlsOptions,
  handlers: Handlers,
  /** The test's certificates: with them, the policy may serve a faulty one per connection. */
  certificates?: FaultyCertificates | undefined
): Effect.Effect<Bound, ListenError> =>
  // node:tls is loaded when a TLS listener starts (a plain TCP server never loads it).
  Effect.flatMap(
    Effect.promise(() => import("node:tls")),
    (Tls) => {
      const context = Tls.createSecureContext(options)
      /** The secure context of each faulty certificate, made on first use. */
      const faulty = new Map<Fault.CertificateFault, Tls.SecureContext>()
      const contextFor = (connection: number): Tls.SecureContext => {
        const chosen = handlers.certificateFault(connection)
        if (chosen === undefined) return context
        if (certificates === undefined) {
          handlers.warn(
            `certificateFault ${chosen.fault} for connection ${connection} needs tls.certificates (Certificates.make()): the configured certificate is served`
          )
          return context
        }
        let made = faulty.get(chosen.fault)
        if (made === undefined) {
          made = Tls.createSecureContext({ ...options, ...certificates.faulty(chosen.fault) })
          faulty.set(chosen.fault, made)
        }
        chosen.report()
        return made
      }
      const accept = (raw: Net.Socket) => {
        const peer = `${raw.remoteAddress ?? "?"}:${raw.remotePort ?? "?"}`
        const connection = handlers.reserve()
        const socket = new Tls.TLSSocket(raw, {
          isServer: true,
          secureContext: contextFor(connection),
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
          handlers.onLink(Transport.tls(socket), connection)
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
            (port) => listenTls(host, port, port, options, handlers, certificates),
            (host, port) => Tls.connect({ host, port, rejectUnauthorized: false })
          )
      )
    }
  )
