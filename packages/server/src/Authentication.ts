/**
 * MQTT 5 enhanced authentication (section 4.12): authenticators by
 * authentication method. A client whose CONNECT names a method the server
 * has an authenticator for goes through its exchange — AUTH 0x18 packets
 * both ways, then CONNACK — and can re-authenticate later (AUTH 0x19). An
 * authenticator is a script (a list of steps, from a config file) or, from
 * a program, an Effect function.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ScramServer from "./internal/scram.js"

/**
 * Authentication Data in a config: UTF-8 text, or `{ hex }` for bytes.
 * @since 0.1.0
 */
export const AuthData = Schema.Union([
  Schema.String,
  Schema.Struct({ hex: Schema.String.check(Schema.isPattern(/^(?:[0-9a-fA-F]{2})*$/u)) })
]).annotate({ expected: 'text, or { "hex": "…" } for bytes' })
/** @since 0.1.0 */
export type AuthData = typeof AuthData.Type

/** The reason codes a server may end a failed exchange with (CONNACK, or DISCONNECT after a re-authentication). */
const failureCodes = [0x80, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x97, 0x9f] as const

/**
 * One step of a script: it answers the client's Authentication Data (the
 * CONNECT's for the first step, then each AUTH's). With `expect`, data that
 * differs fails the exchange with 0x87 (Not authorized). Then `reply`:
 * `"continue"` (AUTH 0x18 with `data`), `"success"` (CONNACK 0x00 — or AUTH
 * 0x00 after a re-authentication — with `data`), or `"fail"` (`reasonCode`,
 * default 0x87).
 * @since 0.1.0
 */
export const Step = Schema.Struct({
  expect: Schema.optionalKey(AuthData),
  reply: Schema.Literals(["continue", "success", "fail"]),
  data: Schema.optionalKey(AuthData),
  reasonCode: Schema.optionalKey(
    Schema.Literals(failureCodes).annotate({
      expected: `a failure reason code a server may send (${failureCodes.map((c) => `0x${c.toString(16)}`).join(", ")})`
    })
  )
})
/** @since 0.1.0 */
export type Step = typeof Step.Type

/**
 * A scripted exchange: the steps in order. A client that sends more AUTH
 * packets than the script answers fails with 0x87.
 * @since 0.1.0
 */
export const Script = Schema.Struct({ steps: Schema.NonEmptyArray(Step) })
/** @since 0.1.0 */
export type Script = typeof Script.Type

/**
 * What an authenticator is asked: the method, the step (0 for the CONNECT's
 * or the re-authentication's first data), the client's data, and who asks.
 * @since 0.1.0
 */
export interface Exchange {
  readonly method: string
  readonly step: number
  readonly data: Uint8Array | undefined
  readonly clientId: string
  readonly connection: number
  /** True for a re-authentication (AUTH 0x19 on a connection that is already up). */
  readonly reauthentication: boolean
  /** What the authenticator keeps from one step of this exchange to the next (empty at step 0). */
  readonly memory: Map<string, unknown>
}

/**
 * An authenticator's answer: continue the exchange (AUTH 0x18 with data),
 * succeed (CONNACK 0x00, or AUTH 0x00 after a re-authentication, with
 * data), or fail with a reason code.
 * @since 0.1.0
 */
export type Answer =
  | { readonly _tag: "Continue"; readonly data?: Uint8Array | undefined }
  | { readonly _tag: "Success"; readonly data?: Uint8Array | undefined }
  | { readonly _tag: "Failure"; readonly reasonCode: number }

/** @since 0.1.0 */
export const continueWith = (data?: Uint8Array): Answer => ({ _tag: "Continue", data })
/** @since 0.1.0 */
export const succeed = (data?: Uint8Array): Answer => ({ _tag: "Success", data })
/** @since 0.1.0 */
export const fail = (reasonCode = 0x87): Answer => ({ _tag: "Failure", reasonCode })

/**
 * An authenticator written as a program: each step of the exchange in, an
 * answer out. A failure or defect of the Effect fails the exchange with
 * 0x80 (Unspecified error) and a Warning.
 * @since 0.1.0
 */
export type AuthenticateFunction = (exchange: Exchange) => Effect.Effect<Answer, unknown>

/**
 * SCRAM (RFC 5802, RFC 7677) with these users and passwords: the CONNECT
 * carries the client-first message, the server's AUTH 0x18 the
 * server-first, the client's AUTH 0x18 the client-final, and CONNACK the
 * server-final (`v=` signature). Channel binding is not offered; user names
 * and passwords are used as given (no SASLprep).
 * @since 0.1.0
 */
export const Scram = Schema.Struct({
  scram: Schema.Literals(["SHA-1", "SHA-256"]),
  users: Schema.Record(Schema.String, Schema.String),
  /** PBKDF2 iterations announced in server-first. Default 4096. */
  iterations: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))
})
/** @since 0.1.0 */
export type Scram = typeof Scram.Type

/**
 * An authenticator: a script, SCRAM, or (library only) a function.
 * @since 0.1.0
 */
export const Authenticator = Schema.Union([
  Script,
  Scram,
  Schema.declare((u: unknown): u is AuthenticateFunction => typeof u === "function", {
    title: "AuthenticateFunction",
    description: "a function (exchange) => Effect<Answer> (library only)"
  })
])
/** @since 0.1.0 */
export type Authenticator = typeof Authenticator.Type

/**
 * Authenticators by authentication method, e.g.
 * `{ "TOKEN": { steps: [{ expect: "secret", reply: "success" }] } }`.
 * @since 0.1.0
 */
export const Authentication = Schema.Record(Schema.String, Authenticator)
/** @since 0.1.0 */
export type Authentication = typeof Authentication.Type

/**
 * Authentication Data as bytes.
 * @since 0.1.0
 */
export const bytesOf = (data: AuthData): Uint8Array =>
  typeof data === "string" ? new TextEncoder().encode(data) : Uint8Array.from(Buffer.from(data.hex, "hex"))

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean =>
  a !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i])

/**
 * An authenticator as a function: a script answers step N with its step N.
 * @since 0.1.0
 */
export const toFunction = (authenticator: Authenticator): AuthenticateFunction => {
  if (typeof authenticator === "function") return authenticator
  if ("scram" in authenticator) return ScramServer.authenticator(authenticator)
  const steps = authenticator.steps
  return (exchange) =>
    Effect.sync(() => {
      const step = steps[exchange.step]
      if (step === undefined) return fail()
      if (step.expect !== undefined && !sameBytes(exchange.data, bytesOf(step.expect))) return fail()
      const data = step.data === undefined ? undefined : bytesOf(step.data)
      switch (step.reply) {
        case "continue":
          return continueWith(data)
        case "success":
          return succeed(data)
        case "fail":
          return fail(step.reasonCode ?? 0x87)
      }
    })
}
