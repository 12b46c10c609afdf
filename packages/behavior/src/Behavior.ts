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
import { ConnackReasonCode, codeOf, refusalCodes } from "./ReasonCodes.js"

/** @since 0.1.0 */
export {
  ConnackReasonCode,
  connackCode,
  connackRefusalCodesV3,
  connackRefusalCodesV5,
  refusalCodes
} from "./ReasonCodes.js"

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
  expected: "a number of ms (an integer ≥ 0)"
})

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
  maxKeepAliveMqtt3: Schema.optionalKey(
    Schema.Literals(["refuse", "accept"]).annotate({ expected: '"refuse" or "accept"' })
  ),
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
  /**
   * Discard the client's stored session when it connects, as a broker that lost it would: CONNACK
   * says session present 0, and its subscriptions and queued messages are gone.
   */
  dropSession: Schema.optionalKey(Schema.Boolean),
  /**
   * MQTT 5: write PUBACK, PUBREC, PUBREL and PUBCOMP with their reason code and property length
   * even for success without properties, where the spec allows leaving both out.
   */
  explicitReasonCodes: Schema.optionalKey(Schema.Boolean),
  /**
   * MQTT 5 limits the client announced in CONNECT that the server ignores: `"topicAliasMaximum"`
   * (topic aliases on its PUBLISHes beyond the client's maximum, even to a client that allows none),
   * `"maximumPacketSize"` (packets larger than the client takes are sent, not dropped),
   * `"receiveMaximum"` (more QoS 1/2 PUBLISHes in flight than the client allows).
   */
  breakClientLimits: Schema.optionalKey(
    Schema.Array(
      Schema.Literals(["topicAliasMaximum", "maximumPacketSize", "receiveMaximum"]).annotate({
        expected: '"topicAliasMaximum", "maximumPacketSize" or "receiveMaximum"'
      })
    )
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
  dropSession: perConnection(Behavior.fields.dropSession.schema),
  explicitReasonCodes: perConnection(Behavior.fields.explicitReasonCodes.schema),
  breakClientLimits: perConnection(Behavior.fields.breakClientLimits.schema),
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
