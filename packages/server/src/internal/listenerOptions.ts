/**
 * The options of the listeners besides TCP: TLS and WebSocket.
 */
import type { Fault } from "@mqttest/behavior"
import * as Schema from "effect/Schema"

/** What a server needs of `Certificates.make()` to serve faulty certificates (structural: no X.509 code here). */
export interface FaultyCertificates {
  readonly faulty: (fault: Fault.CertificateFault) => { readonly cert: string; readonly key: string }
}

const isFaultyCertificates = (u: unknown): u is FaultyCertificates =>
  typeof u === "object" && u !== null && typeof (u as { faulty?: unknown }).faulty === "function"

/** `Certificates.make()`'s result, in a config (a program can give it; a JSON file cannot). */
export const CertificatesValue = Schema.declare(isFaultyCertificates, {
  expected: "the result of Certificates.make() (library only)"
})

import { defaulted } from "./defaults.js"
import { Ports } from "./ports.js"

/**
 * TLS (`mqtts://`), on a port of its own besides TCP: the server's
 * certificate and key, and whether (and against which CA) clients present
 * certificates. Certificates and keys are PEM text or the path of a PEM file
 * (`Certificates.make` makes throw-away ones for tests).
 * */
export const Tls = Schema.Struct({
  /** The server's certificate (chain): PEM text, or a file path. */
  cert: Schema.String,
  /** The server's private key: PEM text, or a file path. */
  key: Schema.String,
  /** CA certificate(s) that client certificates must chain to: PEM text, or a file path. */
  ca: Schema.optionalKey(Schema.String),
  /**
   * Client certificates: `"none"` (not asked for; default), `"request"` (asked
   * for, the connection goes on without one or with one that does not
   * verify), `"require"` (a certificate signed by `ca` is required, the
   * handshake fails otherwise).
   */
  clientAuth: defaulted(Schema.Literals(["none", "request", "require"]), "none"),
  /** Port or port range of the TLS listener. Default "8883-9000". */
  ports: defaulted(Ports, "8883-9000"),
  /** Oldest TLS version accepted. Default: Node's (TLSv1.2). */
  minVersion: Schema.optionalKey(Schema.Literals(["TLSv1.2", "TLSv1.3"])),
  /** Newest TLS version accepted. Default: TLSv1.3. */
  maxVersion: Schema.optionalKey(Schema.Literals(["TLSv1.2", "TLSv1.3"])),
  /**
   * The test's certificates (`Certificates.make()`, library only): with them,
   * the `certificateFault` behaviour serves a faulty certificate from the
   * CA the client trusts, per connection.
   */
  certificates: Schema.optionalKey(CertificatesValue)
})
export type Tls = typeof Tls.Type

/**
 * A WebSocket listener: MQTT over WebSocket (binary frames, the `mqtt`
 * subprotocol) at `path` on a port of its own; `wss` serves it over TLS with
 * the `tls` certificate and key.
 */
export const WebSocket = Schema.Struct({
  /** Port or port range. Default "8080-8180" (ws), "8443-8543" (wss). */
  ports: defaulted(Ports, "8080-8180"),
  /** The HTTP path of the upgrade. Default "/mqtt". */
  path: defaulted(
    Schema.String.check(
      Schema.makeFilter((path: string) =>
        /^\/[\x21-\x7e]*$/u.test(path)
          ? undefined
          : `expected an HTTP path such as "/mqtt" (a "/" then visible ASCII, no spaces), got ${JSON.stringify(path)}`
      )
    ),
    "/mqtt"
  )
})
export type WebSocket = typeof WebSocket.Type

/** The secure WebSocket listener's default ports. */
export const secureWebSocketPorts = defaulted(Ports, "8443-8543")
