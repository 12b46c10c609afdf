/**
 * The test's policy as a service: for each connection, what the server does
 * where it departs from a plain broker — refusals, delays, packet faults,
 * network impairments, limits — as **decisions as data** (delay this PUBACK
 * 30 s, drop this PUBACK, refuse with 0x87), each carrying what the server
 * reports in its `FaultInjected` event. It holds the behaviour options in
 * force (changed at runtime by `configure` / `reset`), each connection's
 * delay steppers, fault counters, held packets and seeded random sources.
 * It never sees sockets, connections or the broker: the server asks, then
 * acts.
 *
 * @since 0.1.0
 */
import type { Packet } from "@mqttest/codec"
import type { PacketId } from "@mqttest/session"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Behavior from "./Behavior.js"
import type { AckTag, Delayed, Injected, Outgoing, ReadPlan, Refused, WritePlan } from "./Decision.js"
import type * as Delay from "./Delay.js"
import { PolicyOfConnection, type SharedOptions } from "./internal/connectionPolicy.js"

export type { AckTag, Delayed, Injected, Outgoing, ReadPlan, Refused, WritePlan } from "./Decision.js"

/**
 * The policy for one connection.
 * @since 0.1.0
 */
export interface ConnectionPolicy {
  /** The connection number (0-based, in accept order): which element of a per-connection list applies. */
  readonly connection: number
  /** The behaviour in force for this connection (re-resolved after `configure`, `reset` or `identify`). */
  readonly behavior: Behavior.Behavior
  /** The client id is known (after CONNECT): client id rules apply from now on. */
  readonly identify: (clientId: string) => void
  /**
   * The delay before an acknowledgement: undefined when none is configured for
   * its type (send it now), else the next step of its delay (undefined once
   * that is exhausted).
   */
  readonly ackDelay: (tag: AckTag) => Effect.Effect<Delayed | undefined> | undefined
  /** The delay before the CONNACK (and everything after it), or undefined. */
  readonly connackDelay: Effect.Effect<Delayed | undefined>
  /** A refusal of this CONNECT (client id prefix, credentials), or undefined to accept it. */
  readonly refuseConnect: (connect: Packet.Connect, clientId: string) => Refused | undefined
  /** A refusal of an operation on a topic name or filter, or undefined to allow it. */
  readonly refuse: (
    kind: "refuseSubscribe" | "refusePublish" | "refuseUnsubscribe",
    topic: string
  ) => Refused | undefined
  /** The session expiry the test imposes (ms), whatever the client asked for. */
  readonly sessionExpiry: () => { readonly millis: number; readonly injected: Injected } | undefined
  /** The packet id allocator the test asks for, for the server's publishes. */
  readonly packetIds: () => { readonly allocator: PacketId.PacketIdAllocator; readonly injected: Injected } | undefined
  /** After `packetsIn` packets were handled: stop handling and close after `closeAfter` ms (once). */
  readonly countPacket: (packetsIn: number) => { readonly closeAfter: number; readonly injected: Injected } | undefined
  /**
   * The ack timeout before resending packet `packetId`: a stepper (one per
   * message), or undefined never to resend. MQTT 3 resends after 5 s by
   * default; MQTT 5 forbids resending on a live connection.
   */
  readonly resendDelays: (level: Packet.ProtocolLevel, packetId: number) => Delay.Stepper | undefined
  /** The packets to write for one the server sends, after the packet faults. */
  readonly outgoing: (packet: Packet.Packet) => Outgoing
  /** A held packet's `maxHold` has passed: true (with what to report) when it was still held and is released now. */
  readonly releaseHeld: (packet: Packet.Packet) => Injected | undefined
  /** Every packet still held, released before the connection closes (reordering never loses a packet). */
  readonly releaseAllHeld: () => ReadonlyArray<Packet.Packet>
  /** The added latency before a write of `bytes` in `packets` packets, or undefined. */
  readonly latency: (bytes: number, packets: number) => Effect.Effect<Delayed | undefined>
  /** How a write of `bytes` in `packets` packets is cut and paced, or undefined to write it at once. */
  readonly writePlan: (bytes: number, packets: number) => WritePlan | undefined
  /** The wait (ms) until a piece of `length` bytes, sent at `now`, has crossed the bandwidth-capped link. */
  readonly linkWait: (now: number, length: number, bandwidth: number) => number
  /** How bytes read from the client are paced, or undefined to handle them at once. */
  readonly readPlan: (bytes: Uint8Array) => ReadPlan | undefined
}

/**
 * The members of the `Policy` service.
 * @since 0.1.0
 */
export interface Shape {
  /** The policy of connection `connection` (0-based, in accept order). */
  readonly connection: (connection: number) => ConnectionPolicy
  /** The behaviour options in force. */
  readonly options: Effect.Effect<Behavior.BehaviorConfig>
  /**
   * Changes behaviour options (`null` unsets one): new connections use them
   * at once, live ones from their next decision. Returns the options named.
   */
  readonly configure: (update: Behavior.BehaviorConfig) => Effect.Effect<ReadonlyArray<string>>
  /** Restores the options the policy started with; returns the options that changed. */
  readonly reset: Effect.Effect<ReadonlyArray<string>>
}

/**
 * @since 0.1.0
 */
export class Policy extends Context.Service<Policy, Shape>()("@mqttest/behavior/Policy") {}

/**
 * A policy with these behaviour options, built synchronously (for servers
 * that are not composed from layers).
 * @since 0.1.0
 */
export const makeUnsafe = (initial: Behavior.BehaviorConfig): Shape => {
  const shared: SharedOptions = { options: initial, version: 0 }
  return {
    connection: (id) => new PolicyOfConnection(shared, id),
    options: Effect.sync(() => shared.options),
    configure: (update) =>
      Effect.sync(() => {
        shared.options = { ...shared.options, ...update }
        shared.version++
        return Object.keys(update)
      }),
    reset: Effect.sync(() => {
      const changed = Object.keys({ ...shared.options, ...initial }).filter(
        (key) => (shared.options as Record<string, unknown>)[key] !== (initial as Record<string, unknown>)[key]
      )
      shared.options = initial
      shared.version++
      return changed
    })
  }
}

/**
 * A policy with these behaviour options (decoded: see `Behavior.BehaviorConfig`).
 * @since 0.1.0
 */
export const make = (options: Behavior.BehaviorConfig = {}): Effect.Effect<Shape> =>
  Effect.sync(() => makeUnsafe(options))

/**
 * The `Policy` service with these behaviour options.
 * @since 0.1.0
 */
export const layer = (options: Behavior.BehaviorConfig = {}): Layer.Layer<Policy> => Layer.effect(Policy, make(options))

/**
 * A policy that departs from a plain broker nowhere (until `configure`d).
 * @since 0.1.0
 */
export const layerTest: Layer.Layer<Policy> = layer({})
