/**
 * The behaviour of one connection, and the configuration that chooses it
 * per connection: any option may be a list (connection N, counted from 0 in
 * accept order, uses element N mod length; `null` means "not set"), and
 * rules matched by client id (after CONNECT) override the lists. The first
 * matching rule wins; options it does not set come from the lists.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import safeRegex from "safe-regex2"
import { Delay, expected as delayExpected } from "./Delay.js"
import { CertificateFault, Network, PacketFaults, PacketIds } from "./Fault.js"

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
  expected: "a number of ms (an integer ≥ 0)"
})

const hex = (code: number) => `0x${code.toString(16).padStart(2, "0")}`

/** A reason code from a fixed set, named by value in errors. */
const codeOf = (codes: ReadonlyArray<number>, what: string) =>
  Schema.Literals(codes).annotate({ expected: `${what} (${codes.map(hex).join(", ")})` })

/**
 * CONNACK return codes that refuse a 3.1/3.1.1 client: 1 unacceptable
 * protocol version, 2 identifier rejected, 3 server unavailable, 4 bad user
 * name or password, 5 not authorized.
 * @since 0.1.0
 */
export const connackRefusalCodesV3: ReadonlyArray<number> = [1, 2, 3, 4, 5]

/**
 * CONNACK reason codes that refuse an MQTT 5 client (every failure code the
 * spec allows in CONNACK).
 * @since 0.1.0
 */
export const connackRefusalCodesV5: ReadonlyArray<number> = [
  0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c,
  0x9d, 0x9f
]

const v3ToV5: Record<number, number> = { 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 }
const v5ToV3: Record<number, number> = { 132: 1, 133: 2, 134: 4, 135: 5, 138: 5, 140: 4 }

/**
 * The CONNACK code refusing a client: one number, or one per protocol level.
 * A single number that is valid for one level only is mapped to the other
 * level's nearest code: 1 ↔ 0x84, 2 ↔ 0x85, 3 ↔ 0x88, 4 ↔ 0x86, 5 ↔ 0x87;
 * 0x8A (banned) → 5, 0x8C (bad authentication method) → 4, any other MQTT 5
 * code → 3 (server unavailable). `{ mqtt3, mqtt5 }` sets each level itself
 * (a level left out gets its default).
 * @since 0.1.0
 */
export const ConnackReasonCode = Schema.Union([
  codeOf([...connackRefusalCodesV3, ...connackRefusalCodesV5], "a CONNACK refusal code"),
  Schema.Struct({
    mqtt3: Schema.optionalKey(codeOf(connackRefusalCodesV3, "an MQTT 3.1.1 CONNACK refusal code")),
    mqtt5: Schema.optionalKey(codeOf(connackRefusalCodesV5, "an MQTT 5 CONNACK refusal code"))
  })
]).annotate({
  expected: `a CONNACK refusal code (MQTT 3.1.1: 1-5; MQTT 5: ${connackRefusalCodesV5.map(hex).join(", ")}) or { mqtt3, mqtt5 }`
})
/** @since 0.1.0 */
export type ConnackReasonCode = typeof ConnackReasonCode.Type

/**
 * The CONNACK code for a refused client at protocol `level`, from the
 * configured code (if any) and the defaults for each level.
 * @since 0.1.0
 */
export const connackCode = (
  configured: ConnackReasonCode | undefined,
  level: 3 | 4 | 5,
  defaults: { readonly mqtt3: number; readonly mqtt5: number }
): number => {
  if (configured === undefined) return level === 5 ? defaults.mqtt5 : defaults.mqtt3
  if (typeof configured === "object") {
    return level === 5 ? (configured.mqtt5 ?? defaults.mqtt5) : (configured.mqtt3 ?? defaults.mqtt3)
  }
  const isV3 = connackRefusalCodesV3.includes(configured)
  if (level === 5) return isV3 ? v3ToV5[configured]! : configured
  return isV3 ? configured : (v5ToV3[configured] ?? 3)
}

/**
 * MQTT 5 reason codes a server may use to refuse each operation.
 * @since 0.1.0
 */
export const refusalCodes = {
  refuseSubscribe: [0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  refusePublish: [0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  refuseUnsubscribe: [0x80, 0x83, 0x87, 0x8f, 0x91]
} as const

/**
 * Delays before acknowledgements: one delay for all of PUBACK, PUBREC,
 * PUBCOMP, SUBACK and UNSUBACK, or one per packet type.
 * @since 0.1.0
 */
export const AckDelay = Schema.Union([
  // A delay first: `{ fixed: 300 }` is one delay for every ack, never an empty per-type object.
  Delay,
  Schema.Struct({
    puback: Schema.optionalKey(Delay),
    pubrec: Schema.optionalKey(Delay),
    pubcomp: Schema.optionalKey(Delay),
    suback: Schema.optionalKey(Delay),
    unsuback: Schema.optionalKey(Delay)
  }).check(
    Schema.makeFilter((perType: object) =>
      Object.keys(perType).length > 0 ? undefined : "expected at least one of puback, pubrec, pubcomp, suback, unsuback"
    )
  )
]).annotate({
  expected: `${delayExpected}, or one per packet type { puback, pubrec, pubcomp, suback, unsuback }`
})
/** @since 0.1.0 */
export type AckDelay = typeof AckDelay.Type

/**
 * Ack timeouts: how long the server waits for a client's acknowledgement
 * before resending, for MQTT 3.1/3.1.1 and for MQTT 5; `null` never resends.
 * A delay that is exhausted (e.g. `{ fixed: 1000, times: 2 }`) bounds the
 * number of resends.
 * @since 0.1.0
 */
export const AckTimeouts = Schema.Struct({
  mqtt3: Schema.optionalKey(Schema.NullOr(Delay)),
  mqtt5: Schema.optionalKey(Schema.NullOr(Delay))
})
/** @since 0.1.0 */
export type AckTimeouts = typeof AckTimeouts.Type

/**
 * A password given as text or, for binary passwords, as hex.
 * @since 0.1.0
 */
export const Password = Schema.Union([
  Schema.String,
  Schema.Struct({ hex: Schema.String.check(Schema.isPattern(/^(?:[0-9a-fA-F]{2})*$/u)) })
])

/**
 * Only clients with these credentials are accepted.
 * @since 0.1.0
 */
export const Credentials = Schema.Struct({
  username: Schema.String,
  password: Schema.optionalKey(Password),
  /** CONNACK code for a refused client. Default 0x04 (3.1.1) / 0x86 (5.0). */
  reasonCode: Schema.optionalKey(ConnackReasonCode)
})
/** @since 0.1.0 */
export type Credentials = typeof Credentials.Type

/**
 * Only clients whose id starts with this prefix are accepted.
 * @since 0.1.0
 */
export const ClientIdPrefix = Schema.Struct({
  prefix: Schema.String,
  /** CONNACK code for a refused client. Default 0x02 (3.1.1) / 0x85 (5.0). */
  reasonCode: Schema.optionalKey(ConnackReasonCode)
})
/** @since 0.1.0 */
export type ClientIdPrefix = typeof ClientIdPrefix.Type

/**
 * Operations refused on topics matching any of `topics` (MQTT topic filters,
 * matched against the topic or filter the client names).
 * @since 0.1.0
 */
const refusalOf = (kind: keyof typeof refusalCodes, packet: string) =>
  Schema.Struct({
    topics: Schema.Array(Schema.String),
    /** MQTT 5 reason code. Default 0x87 (not authorized); 3.1.1 SUBACK uses 0x80. */
    reasonCode: Schema.optionalKey(codeOf(refusalCodes[kind], `an MQTT 5 ${packet} failure code`))
  })

/** @since 0.1.0 */
export const RefuseSubscribe = refusalOf("refuseSubscribe", "SUBACK")
/** @since 0.1.0 */
export const RefusePublish = refusalOf("refusePublish", "PUBACK/PUBREC")
/** @since 0.1.0 */
export const RefuseUnsubscribe = refusalOf("refuseUnsubscribe", "UNSUBACK")
/** @since 0.1.0 */
export type Refusal = typeof RefuseSubscribe.Type

/**
 * The behaviour of one connection. Every option is optional: unset means
 * the server behaves as a correct broker.
 * @since 0.1.0
 */
export const Behavior = Schema.Struct({
  /** Delay before PUBACK, PUBREC, PUBCOMP, SUBACK and UNSUBACK. */
  ackDelay: Schema.optionalKey(AckDelay),
  /** Delay before CONNACK. */
  connackDelay: Schema.optionalKey(Delay),
  /** Resend timing for unacknowledged messages (defaults: 5000 ms for MQTT 3, never for MQTT 5). */
  ackTimeouts: Schema.optionalKey(AckTimeouts),
  /** Close the connection (without DISCONNECT) after receiving this many packets. */
  maxPackets: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Wait this long after the last counted packet before closing (ms). */
  maxPacketsDelay: Schema.optionalKey(Millis),
  /** Close the connection (without DISCONNECT) this long after it was accepted (ms). */
  maxTime: Schema.optionalKey(Millis),
  /** Keep the session this long after the connection closes (ms), whatever the client asked for. */
  sessionExpiry: Schema.optionalKey(Millis),
  /**
   * The longest keep alive a client may have (s), as brokers' `max_keepalive`: an MQTT 5 client
   * asking for more, or for 0 (none), gets this as CONNACK's Server Keep Alive and is held to it; one
   * asking for less keeps its own. MQTT 3 clients: see `maxKeepAliveMqtt3`.
   */
  maxKeepAlive: Schema.optionalKey(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })).annotate({
      expected: "a whole number of seconds from 1 to 65535"
    })
  ),
  /**
   * An MQTT 3.1/3.1.1 client asking for more than `maxKeepAlive` (or 0), which MQTT 3 cannot tell
   * another value: `"refuse"` (the default, as mosquitto: CONNACK 0x02 identifier rejected) or
   * `"accept"` (it keeps its own keep alive). Either way a Warning says so.
   */
  /**
   * A faulty enhanced authentication exchange: `"badFinalData"` (the success's data altered: for
   * SCRAM a wrong server signature), `"neverFinish"` (blackholed after the server's first AUTH),
   * `"extraRound"` (one more AUTH 0x18 round), `"dropMethod"` (no method in the success).
   */
  authFault: Schema.optionalKey(
    Schema.Literals(["badFinalData", "neverFinish", "extraRound", "dropMethod"]).annotate({
      expected: '"badFinalData", "neverFinish", "extraRound" or "dropMethod"'
    })
  ),
  maxKeepAliveMqtt3: Schema.optionalKey(
    Schema.Literals(["refuse", "accept"]).annotate({ expected: '"refuse" or "accept"' })
  ),
  /** Accept only client ids with this prefix. */
  clientIdPrefix: Schema.optionalKey(ClientIdPrefix),
  /** Accept only these credentials. */
  credentials: Schema.optionalKey(Credentials),
  /** Refuse subscriptions to matching topic filters. */
  refuseSubscribe: Schema.optionalKey(RefuseSubscribe),
  /** Refuse publishes to matching topics. */
  refusePublish: Schema.optionalKey(RefusePublish),
  /** Refuse unsubscribes from matching topic filters. */
  refuseUnsubscribe: Schema.optionalKey(RefuseUnsubscribe),
  /** Faults on packets the server sends (drop, duplicate, spurious, reorder, redeliver, QoS upgrade). */
  packetFaults: Schema.optionalKey(PacketFaults),
  /** Packet identifier strategy for server → client publishes. */
  packetIds: Schema.optionalKey(PacketIds),
  /** Network impairments on what the server writes. */
  network: Schema.optionalKey(Network),
  /** Blackhole the connection this long after its CONNACK was written (0: right after it): no more reading or writing, socket kept open. */
  blackhole: Schema.optionalKey(Schema.Struct({ after: Millis })),
  /**
   * TLS only: serve this faulty certificate in the connection's handshake
   * (needs the server's `tls.certificates`). Chosen when the socket is
   * accepted, so by connection number: client id rules cannot apply.
   */
  certificateFault: Schema.optionalKey(CertificateFault)
})
/** @since 0.1.0 */
export type Behavior = typeof Behavior.Type

/** @since 0.1.0 */
export type BehaviorKey = keyof Behavior

/**
 * A per-connection option: one value, a list (connection N uses element N
 * mod length; `null` = not set for that connection), or `null` (not set).
 */
const perConnection = <S extends Schema.Top>(schema: S) =>
  Schema.optionalKey(
    Schema.NullOr(Schema.Union([schema, Schema.Array(Schema.NullOr(schema))])).annotate({
      expected: `${expectedOf(schema)}, a list of those per connection (null = not set), or null`
    })
  )

const expectedOf = (schema: Schema.Top): string => {
  const expected = schema.ast.annotations?.expected
  return typeof expected === "string" ? expected : "a valid value"
}

/**
 * A client id regex: valid, and without nested repetition such as `(a+)+`,
 * whose matching time can grow exponentially with the client id (a client
 * chooses its id, so it must not be able to stall the server).
 */
const validRegex = Schema.String.annotate({ format: "regex" }).check(
  Schema.makeFilter((source: string) => {
    try {
      new RegExp(source)
    } catch (error) {
      return `expected a valid regular expression: ${error instanceof Error ? error.message : String(error)}`
    }
    return safeRegex(source)
      ? undefined
      : `expected a regular expression without nested repetition such as (a+)+, which can take exponential time on a long client id; got ${JSON.stringify(source)}`
  })
)

/**
 * A rule: a client id (exact, or `{ regex }`) and the behaviour for it.
 * @since 0.1.0
 */
export const Rule = Schema.Struct({
  clientId: Schema.Union([Schema.String, Schema.Struct({ regex: validRegex })]).annotate({
    expected: 'a client id or { regex: "…" }'
  }),
  ...Behavior.fields
})
/** @since 0.1.0 */
export type Rule = typeof Rule.Type

/**
 * How behaviour is chosen for each connection.
 * @since 0.1.0
 */
export const BehaviorConfig = Schema.Struct({
  ackDelay: perConnection(AckDelay),
  connackDelay: perConnection(Delay),
  ackTimeouts: perConnection(AckTimeouts),
  maxPackets: perConnection(Behavior.fields.maxPackets.schema),
  maxPacketsDelay: perConnection(Millis),
  maxTime: perConnection(Millis),
  sessionExpiry: perConnection(Millis),
  maxKeepAlive: perConnection(Behavior.fields.maxKeepAlive.schema),
  maxKeepAliveMqtt3: perConnection(Behavior.fields.maxKeepAliveMqtt3.schema),
  authFault: perConnection(Behavior.fields.authFault.schema),
  clientIdPrefix: perConnection(ClientIdPrefix),
  credentials: perConnection(Credentials),
  refuseSubscribe: perConnection(RefuseSubscribe),
  refusePublish: perConnection(RefusePublish),
  refuseUnsubscribe: perConnection(RefuseUnsubscribe),
  packetFaults: perConnection(PacketFaults),
  packetIds: perConnection(PacketIds),
  network: perConnection(Network),
  blackhole: perConnection(Behavior.fields.blackhole.schema),
  certificateFault: perConnection(CertificateFault),
  /** Client id rules; the first that matches wins. */
  rules: Schema.optionalKey(Schema.Array(Rule)),
  /** Seed of every random delay, so a run can be reproduced. Default 0. */
  seed: Schema.optionalKey(Schema.Int)
})
/** @since 0.1.0 */
export type BehaviorConfig = typeof BehaviorConfig.Type

/**
 * The option names of a behaviour.
 * @since 0.1.0
 */
export const keys: ReadonlyArray<BehaviorKey> = Object.keys(Behavior.fields) as Array<BehaviorKey>

const ruleMatches = (rule: Rule, clientId: string): boolean => {
  if (typeof rule.clientId === "string") return rule.clientId === clientId
  try {
    return new RegExp(rule.clientId.regex).test(clientId)
  } catch {
    return false
  }
}

/**
 * The behaviour of connection `index` (0-based, accept order); rules apply
 * once the client id is known.
 * @since 0.1.0
 */
export const resolve = (config: BehaviorConfig, index: number, clientId?: string): Behavior => {
  const out: Record<string, unknown> = {}
  for (const key of keys) {
    const value = (config as Record<string, unknown>)[key]
    if (value === undefined || value === null) continue
    const chosen = Array.isArray(value) ? (value.length === 0 ? null : value[index % value.length]) : value
    if (chosen !== null && chosen !== undefined) out[key] = chosen
  }
  if (clientId !== undefined) {
    const rule = config.rules?.find((r) => ruleMatches(r, clientId))
    if (rule !== undefined) {
      for (const key of keys) {
        const value = (rule as Record<string, unknown>)[key]
        if (value !== undefined) out[key] = value
      }
    }
  }
  return out as Behavior
}

/**
 * The bytes of a configured password.
 * @since 0.1.0
 */
export const passwordBytes = (password: typeof Password.Type): Uint8Array => {
  if (typeof password === "string") return new TextEncoder().encode(password)
  const out = new Uint8Array(password.hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(password.hex.slice(i * 2, i * 2 + 2), 16)
  return out
}
