/**
 * Reason codes a test may choose: the CONNACK codes that refuse a client at
 * each protocol level (with the mapping between levels), and the MQTT 5
 * codes that refuse a subscribe, publish or unsubscribe.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A code as 0x.. in messages.
 * @since 0.1.0
 */
export const hex = (code: number) => `0x${code.toString(16).padStart(2, "0")}`

/**
 * A reason code from a fixed set, named by value in errors.
 * @since 0.1.0
 */
export const codeOf = (codes: ReadonlyArray<number>, what: string) =>
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
