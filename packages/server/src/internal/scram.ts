/**
 * The server side of SCRAM (RFC 5802; SHA-256: RFC 7677) as an MQTT 5
 * authenticator: step 0 takes the client-first message and answers with
 * server-first, step 1 takes the client-final message, checks the client's
 * proof and answers with server-final (`v=` the server signature).
 */
import * as Crypto from "node:crypto"
import * as Effect from "effect/Effect"

/** What this module needs of an exchange step (see `Authentication.Exchange`). */
interface Step {
  readonly step: number
  readonly data: Uint8Array | undefined
  readonly memory: Map<string, unknown>
}

/** Its answers (see `Authentication.Answer`). */
type Answer =
  | { readonly _tag: "Continue"; readonly data: Uint8Array }
  | { readonly _tag: "Success"; readonly data: Uint8Array }
  | { readonly _tag: "Failure"; readonly reasonCode: number }

interface Options {
  readonly scram: "SHA-1" | "SHA-256"
  readonly users: Readonly<Record<string, string>>
  readonly iterations?: number | undefined
}

/** What step 0 leaves for step 1. */
interface Started {
  readonly gs2Header: string
  readonly clientFirstBare: string
  readonly serverFirst: string
  readonly nonce: string
  readonly saltedPassword: Buffer
}

const NOT_AUTHORIZED = 0x87
const failure: Answer = { _tag: "Failure", reasonCode: NOT_AUTHORIZED }
const text = (s: string) => new TextEncoder().encode(s)

/** `a=1,b=2` → { a: "1", b: "2" } (values may contain `=`). */
const attributes = (message: string): Map<string, string> =>
  new Map(
    message.split(",").map((part) => {
      const at = part.indexOf("=")
      return [at < 0 ? part : part.slice(0, at), at < 0 ? "" : part.slice(at + 1)] as const
    })
  )

/** A SCRAM user name: `=2C` is a comma, `=3D` an equals sign. */
const saslName = (name: string) => name.replaceAll("=2C", ",").replaceAll("=3D", "=")

export const authenticator = (options: Options) => {
  const algorithm = options.scram === "SHA-1" ? "sha1" : "sha256"
  const keyLength = options.scram === "SHA-1" ? 20 : 32
  const iterations = options.iterations ?? 4096
  const hmac = (key: Buffer, message: string | Buffer) => Crypto.createHmac(algorithm, key).update(message).digest()
  const hash = (data: Buffer) => Crypto.createHash(algorithm).update(data).digest()
  // The salt of a user is derived from its name: the same for every exchange, as a stored credential's would be.
  const saltOf = (user: string) => hash(Buffer.from(`mqttest salt:${user}`)).subarray(0, 16)

  const first = (data: Uint8Array | undefined, memory: Map<string, unknown>): Answer => {
    const message = data === undefined ? "" : Buffer.from(data).toString("utf8")
    // gs2 header: "n,," or "y,," (no channel binding); "p=…" asks for one, which is not offered.
    const match = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(message)
    if (match === null) return failure
    const clientFirstBare = match[3]!
    const fields = attributes(clientFirstBare)
    const user = fields.get("n")
    const clientNonce = fields.get("r")
    if (user === undefined || clientNonce === undefined || clientNonce === "") return failure
    const password = Object.hasOwn(options.users, saslName(user)) ? options.users[saslName(user)] : undefined
    if (password === undefined) return failure
    const salt = saltOf(saslName(user))
    const nonce = clientNonce + Crypto.randomBytes(18).toString("base64")
    const serverFirst = `r=${nonce},s=${salt.toString("base64")},i=${iterations}`
    const started: Started = {
      gs2Header: message.slice(0, message.length - clientFirstBare.length),
      clientFirstBare,
      serverFirst,
      nonce,
      saltedPassword: Crypto.pbkdf2Sync(password, salt, iterations, keyLength, algorithm)
    }
    memory.set("scram", started)
    return { _tag: "Continue", data: text(serverFirst) }
  }

  const final = (data: Uint8Array | undefined, started: Started): Answer => {
    const message = data === undefined ? "" : Buffer.from(data).toString("utf8")
    const proofAt = message.lastIndexOf(",p=")
    if (proofAt < 0) return failure
    const withoutProof = message.slice(0, proofAt)
    const fields = attributes(withoutProof)
    if (fields.get("c") !== Buffer.from(started.gs2Header).toString("base64")) return failure
    if (fields.get("r") !== started.nonce) return failure
    const proof = Buffer.from(message.slice(proofAt + 3), "base64")
    const authMessage = `${started.clientFirstBare},${started.serverFirst},${withoutProof}`
    const clientKey = hmac(started.saltedPassword, "Client Key")
    const storedKey = hash(clientKey)
    const clientSignature = hmac(storedKey, authMessage)
    if (proof.length !== clientSignature.length) return failure
    const recovered = Buffer.from(proof.map((byte, i) => byte ^ clientSignature[i]!))
    if (!Crypto.timingSafeEqual(hash(recovered), storedKey)) return failure
    const serverSignature = hmac(hmac(started.saltedPassword, "Server Key"), authMessage)
    return { _tag: "Success", data: text(`v=${serverSignature.toString("base64")}`) }
  }

  return (exchange: Step): Effect.Effect<Answer> =>
    Effect.sync(() => {
      if (exchange.step === 0) return first(exchange.data, exchange.memory)
      const started = exchange.memory.get("scram") as Started | undefined
      return exchange.step === 1 && started !== undefined ? final(exchange.data, started) : failure
    })
}
