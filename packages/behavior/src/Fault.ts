/**
 * Faults aimed at packets, packet identifiers and the network, as data (part
 * of a connection's behaviour, so per connection, by client id rule, and
 * changeable at runtime like every other option).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Delay } from "./Delay.js"

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Positive = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/**
 * One fault on packets the server sends: for packets of type `packet`, on
 * the `nth` one only, on `every` Nth one, or with a `probability` (seeded);
 * with no selector, on every one.
 * - `drop`: never send it (an ack the client waits for, a PUBLISH never delivered);
 * - `duplicate`: send it twice;
 * - `spurious`: also send one for a packet identifier the client never used;
 * - `reorder`: hold it back and send it right after the next packet of the same
 *   type, so the two are swapped; a selected packet that comes while another is
 *   held completes the pair instead of being held (so with no selector packets
 *   go out as 2, 1, 4, 3, …). A held packet goes out alone after `maxHold` ms
 *   (default 1000) when no next packet comes, and before the connection closes:
 *   reordering never loses a packet;
 * - `redeliver` / `redeliverDup` (PUBLISH): send it again, without / with DUP;
 * - `qosUpgrade` (PUBLISH): deliver it with a QoS one higher than granted;
 * - `split`: write it in two pieces, the first `at` bytes (default 1), then
 *   the rest `pause` ms later (default 0): e.g. `at: 2` cuts a PUBLISH's
 *   two-byte Remaining Length in half.
 * @since 0.1.0
 */
export const PacketFault = Schema.Struct({
  packet: Schema.Literals([
    "Connack",
    "Publish",
    "Puback",
    "Pubrec",
    "Pubrel",
    "Pubcomp",
    "Suback",
    "Unsuback",
    "Pingresp",
    "Disconnect"
  ]),
  action: Schema.Literals([
    "drop",
    "duplicate",
    "spurious",
    "reorder",
    "redeliver",
    "redeliverDup",
    "qosUpgrade",
    "split"
  ]),
  nth: Schema.optionalKey(Positive),
  every: Schema.optionalKey(Positive),
  probability: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  /** `reorder` only: the longest a packet is held waiting for the next one (ms). Default 1000. */
  maxHold: Schema.optionalKey(Millis),
  /** `split` only: the bytes written first. Default 1. */
  at: Schema.optionalKey(Positive),
  /** `split` only: the wait before the rest (ms). Default 0. */
  pause: Schema.optionalKey(Millis)
})
/** @since 0.1.0 */
export type PacketFault = typeof PacketFault.Type

/**
 * The packet faults of a connection.
 * @since 0.1.0
 */
export const PacketFaults = Schema.Struct({ faults: Schema.Array(PacketFault) })
/** @since 0.1.0 */
export type PacketFaults = typeof PacketFaults.Type

/**
 * How the server picks packet identifiers for its publishes: sequential
 * (wrapping 65535 → 1) from `start`, random (seeded), the lowest free one, or
 * deliberately reusing one still in flight (a protocol violation, to test a
 * client's robustness).
 * @since 0.1.0
 */
export const PacketIds = Schema.Union([
  Schema.Struct({
    strategy: Schema.Literal("sequential"),
    start: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })))
  }),
  Schema.Struct({ strategy: Schema.Literals(["random", "lowestFree", "reuse"]) })
])
/** @since 0.1.0 */
export type PacketIds = typeof PacketIds.Type

/**
 * Network impairments on what the server writes to a connection: added
 * latency per write (a Delay, so jitter is seeded), a bandwidth cap in bytes
 * per second (the bytes themselves are paced: a write goes out in pieces of
 * about 1/20 s of the link, each when the link would have carried it, and the
 * link is shared by consecutive writes), slicing each write into pieces of
 * `size` bytes with a `pause`, coalescing (waiting `coalesce` ms to gather
 * packets into one write), and closing with RST instead of FIN.
 * @since 0.1.0
 */
export const Network = Schema.Struct({
  latency: Schema.optionalKey(Delay),
  bandwidth: Schema.optionalKey(Positive),
  /** A slow consumer: the server reads this client at most this many bytes per second. */
  readBandwidth: Schema.optionalKey(Positive),
  slice: Schema.optionalKey(Schema.Struct({ size: Positive, pause: Schema.optionalKey(Millis) })),
  coalesce: Schema.optionalKey(Millis),
  close: Schema.optionalKey(Schema.Literals(["fin", "rst"]))
})
/** @since 0.1.0 */
export type Network = typeof Network.Type

/**
 * A TLS server certificate a client must reject: expired, not yet valid, for
 * another host, from a CA the client does not trust, or self-signed (served
 * to a connection by the `certificateFault` behaviour; see the server's
 * `Certificates`).
 * @since 0.1.0
 */
export const CertificateFault = Schema.Literals(["expired", "notYetValid", "wrongHost", "unknownCa", "selfSigned"])
/** @since 0.1.0 */
export type CertificateFault = typeof CertificateFault.Type
