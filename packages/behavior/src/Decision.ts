/**
 * The Policy's decisions, as data: what the server is to do (delay, refuse,
 * write these packets instead, pace these bytes), each with what the server
 * reports in its `FaultInjected` event.
 *
 * @since 0.1.0
 */
import type { Packet } from "@mqttest/codec"
import type * as Duration from "effect/Duration"

/**
 * What the server reports when it applies a decision (its `FaultInjected`
 * event's `fault` and `detail`).
 * @since 0.1.0
 */
export interface Injected {
  readonly fault: string
  readonly detail: string
}

/**
 * Do it later: after `duration`.
 * @since 0.1.0
 */
export interface Delayed {
  readonly duration: Duration.Duration
  readonly injected: Injected
}

/**
 * Refuse, with this reason (or return) code.
 * @since 0.1.0
 */
export interface Refused {
  readonly reasonCode: number
  readonly injected: Injected
}

/**
 * Packets the server acknowledges with, each of which may be delayed.
 * @since 0.1.0
 */
export type AckTag = "Puback" | "Pubrec" | "Pubcomp" | "Suback" | "Unsuback"

/**
 * What to write for one outgoing packet, after the packet faults.
 * @since 0.1.0
 */
export interface Outgoing {
  /** The packets to write in its place (none, itself, two copies, …), in order. */
  readonly packets: ReadonlyArray<Packet.Packet>
  /** A `reorder` fault held the packet back: release it alone after `maxHold` ms if still held (see `releaseHeld`). */
  readonly held?: { readonly packet: Packet.Packet; readonly maxHold: number } | undefined
  /** A `split` fault: write the packet's first `at` bytes, then the rest `pause` ms later. */
  readonly split?: { readonly at: number; readonly pause: number } | undefined
  readonly injected: ReadonlyArray<Injected>
}

/**
 * How a batch of bytes goes to the socket under the network impairments: in
 * pieces of `piece` bytes, `pause` ms apart, each paced by `bandwidth`.
 * @since 0.1.0
 */
export interface WritePlan {
  readonly piece: number
  readonly pause: number
  readonly bandwidth: number | undefined
  readonly injected: ReadonlyArray<Injected>
}

/**
 * How bytes read from a client are handled under `network.readBandwidth`: in
 * pieces, each after its wait.
 * @since 0.1.0
 */
export interface ReadPlan {
  readonly pieces: ReadonlyArray<Uint8Array>
  readonly waitMillis: (piece: Uint8Array) => number
  readonly injected: Injected
}
