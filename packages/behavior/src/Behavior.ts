/**
 * The behaviour of one connection, and the configuration that chooses it
 * per connection: any option may be a list (connection N, counted from 0 in
 * accept order, uses element N mod length; `null` means "not set"), and
 * rules matched by client id (after CONNECT) override the lists. The first
 * matching rule wins; options it does not set come from the lists.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Delay } from "./Delay.js"
import { Network, PacketFaults, PacketIds } from "./Fault.js"

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const ReasonCode = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))

/**
 * Delays before acknowledgements: one delay for all of PUBACK, PUBREC,
 * PUBCOMP, SUBACK and UNSUBACK, or one per packet type.
 * @since 0.1.0
 */
export const AckDelay = Schema.Union([
  Schema.Struct({
    puback: Schema.optionalKey(Delay),
    pubrec: Schema.optionalKey(Delay),
    pubcomp: Schema.optionalKey(Delay),
    suback: Schema.optionalKey(Delay),
    unsuback: Schema.optionalKey(Delay)
  }),
  Delay
])
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
  Schema.Struct({ hex: Schema.String.check(Schema.isPattern(/^(?:[0-9a-fA-F]{2})*$/)) })
])

/**
 * Only clients with these credentials are accepted.
 * @since 0.1.0
 */
export const Credentials = Schema.Struct({
  username: Schema.String,
  password: Schema.optionalKey(Password),
  /** CONNACK code for a refused client. Default 0x04 (3.1.1) / 0x86 (5.0). */
  reasonCode: Schema.optionalKey(ReasonCode)
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
  reasonCode: Schema.optionalKey(ReasonCode)
})
/** @since 0.1.0 */
export type ClientIdPrefix = typeof ClientIdPrefix.Type

/**
 * Operations refused on topics matching any of `topics` (MQTT topic filters,
 * matched against the topic or filter the client names).
 * @since 0.1.0
 */
export const Refusal = Schema.Struct({
  topics: Schema.Array(Schema.String),
  /** MQTT 5 reason code. Default 0x87 (not authorized); 3.1.1 SUBACK uses 0x80. */
  reasonCode: Schema.optionalKey(ReasonCode)
})
/** @since 0.1.0 */
export type Refusal = typeof Refusal.Type

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
  /** Accept only client ids with this prefix. */
  clientIdPrefix: Schema.optionalKey(ClientIdPrefix),
  /** Accept only these credentials. */
  credentials: Schema.optionalKey(Credentials),
  /** Refuse subscriptions to matching topic filters. */
  refuseSubscribe: Schema.optionalKey(Refusal),
  /** Refuse publishes to matching topics. */
  refusePublish: Schema.optionalKey(Refusal),
  /** Refuse unsubscribes from matching topic filters. */
  refuseUnsubscribe: Schema.optionalKey(Refusal),
  /** Faults on packets the server sends (drop, duplicate, spurious, reorder, redeliver, QoS upgrade). */
  packetFaults: Schema.optionalKey(PacketFaults),
  /** Packet identifier strategy for server → client publishes. */
  packetIds: Schema.optionalKey(PacketIds),
  /** Network impairments on what the server writes. */
  network: Schema.optionalKey(Network),
  /** Blackhole the connection this long after its CONNECT: no more reading or writing, socket kept open. */
  blackhole: Schema.optionalKey(Schema.Struct({ after: Millis }))
})
/** @since 0.1.0 */
export type Behavior = typeof Behavior.Type

/** @since 0.1.0 */
export type BehaviorKey = keyof Behavior

const perConnection = <S extends Schema.Top>(schema: S) =>
  Schema.optionalKey(Schema.Union([schema, Schema.Array(Schema.NullOr(schema))]))

/**
 * A rule: a client id (exact, or `{ regex }`) and the behaviour for it.
 * @since 0.1.0
 */
export const Rule = Schema.Struct({
  clientId: Schema.Union([Schema.String, Schema.Struct({ regex: Schema.String })]),
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
  clientIdPrefix: perConnection(ClientIdPrefix),
  credentials: perConnection(Credentials),
  refuseSubscribe: perConnection(Refusal),
  refusePublish: perConnection(Refusal),
  refuseUnsubscribe: perConnection(Refusal),
  packetFaults: perConnection(PacketFaults),
  packetIds: perConnection(PacketIds),
  network: perConnection(Network),
  blackhole: perConnection(Behavior.fields.blackhole.schema),
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
    if (value === undefined) continue
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
