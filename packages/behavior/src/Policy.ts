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
import { ReasonCode } from "@mqttest/codec"
import { PacketId, Topic } from "@mqttest/session"
import { Context, Duration, Effect, Layer } from "effect"
import * as Behavior from "./Behavior.js"
import type { AckTag, Delayed, Injected, Outgoing, ReadPlan, Refused, WritePlan } from "./Decision.js"
import * as Delay from "./Delay.js"
import type * as Fault from "./Fault.js"
import * as Network from "./internal/network.js"
import { PacketFaults } from "./internal/packetFaults.js"

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

const ackKey: Record<AckTag, "puback" | "pubrec" | "pubcomp" | "suback" | "unsuback"> = {
  Puback: "puback",
  Pubrec: "pubrec",
  Pubcomp: "pubcomp",
  Suback: "suback",
  Unsuback: "unsuback"
}

const isPerType = (delay: Behavior.AckDelay): delay is Exclude<Behavior.AckDelay, Delay.Delay> =>
  typeof delay === "object" &&
  delay !== null &&
  ["puback", "pubrec", "pubcomp", "suback", "unsuback"].some((key) => key in delay)

const DEFAULT_MQTT3_RESEND = Duration.millis(5000)
const fixedDelay = (duration: Duration.Duration): Delay.Stepper => ({ next: Effect.succeed(duration) })

/**
 * A policy with these behaviour options, built synchronously (for servers
 * that are not composed from layers).
 * @since 0.1.0
 */
export const makeUnsafe = (initial: Behavior.BehaviorConfig): Shape => {
  let options = initial
  let version = 0

  const connection = (id: number): ConnectionPolicy => {
    let clientId: string | undefined
    let resolved: Behavior.Behavior | undefined
    let resolvedVersion = -1
    let resolvedClientId: string | undefined
    const steppers = new Map<string, Delay.Stepper>()
    const packetFaults = new PacketFaults()
    let random: ReturnType<typeof Delay.seededRandom> | undefined
    let linkFreeAt = 0
    let stoppedHandling = false

    const seeded = (purpose: string) => Delay.seededRandom(`${options.seed ?? 0}/${id}/${purpose}`)
    /** The seeded source of this connection's probabilistic faults, made on first use. */
    const faultRandom = () => {
      if (random === undefined) random = seeded("faults")
      return random
    }
    const behavior = (): Behavior.Behavior => {
      if (resolved === undefined || resolvedVersion !== version || resolvedClientId !== clientId) {
        const previous = resolved
        resolved = Behavior.resolve(options, id, clientId)
        resolvedVersion = version
        resolvedClientId = clientId
        steppers.clear()
        // A changed list of packet faults counts `nth` / `every` from the change.
        if (previous !== undefined && previous.packetFaults !== resolved.packetFaults) packetFaults.restartCounts()
      }
      return resolved
    }
    /** A stepper kept between uses, so the Nth occurrence gets the Nth delay. */
    const stepper = (purpose: string, delay: Delay.Delay): Delay.Stepper => {
      let found = steppers.get(purpose)
      if (found === undefined) {
        found = Delay.stepper(delay, seeded(purpose))
        steppers.set(purpose, found)
      }
      return found
    }
    const delayed = (stepper: Delay.Stepper, fault: string, what: string) =>
      Effect.map(stepper.next, (duration): Delayed | undefined =>
        duration === undefined
          ? undefined
          : { duration, injected: { fault, detail: `${what} delayed by ${Duration.toMillis(duration)} ms` } }
      )

    return {
      connection: id,
      get behavior() {
        return behavior()
      },
      identify: (known) => {
        clientId = known
      },
      ackDelay: (tag) => {
        const configured = behavior().ackDelay
        const delay =
          configured === undefined ? undefined : isPerType(configured) ? configured[ackKey[tag]] : configured
        return delay === undefined ? undefined : delayed(stepper(`ack/${tag}`, delay), "ackDelay", tag.toUpperCase())
      },
      connackDelay: Effect.suspend(() => {
        const delay = behavior().connackDelay
        return delay === undefined
          ? Effect.succeed(undefined)
          : delayed(stepper("connack", delay), "connackDelay", "CONNACK")
      }),
      refuseConnect: (connect, name) => {
        const { clientIdPrefix: prefix, credentials } = behavior()
        const level = connect.protocolLevel
        if (prefix !== undefined && !name.startsWith(prefix.prefix)) {
          return {
            reasonCode: Behavior.connackCode(prefix.reasonCode, level, {
              mqtt3: ReasonCode.V3Connack.IdentifierRejected,
              mqtt5: ReasonCode.V5.ClientIdentifierNotValid
            }),
            injected: {
              fault: "clientIdPrefix",
              detail: `client id ${JSON.stringify(name)} lacks prefix ${JSON.stringify(prefix.prefix)}`
            }
          }
        }
        if (credentials === undefined) return undefined
        const expected = credentials.password === undefined ? undefined : Behavior.passwordBytes(credentials.password)
        const passwordOk =
          expected === undefined ||
          (connect.password !== undefined &&
            connect.password.length === expected.length &&
            connect.password.every((byte, i) => byte === expected[i]))
        if (connect.username === credentials.username && passwordOk) return undefined
        return {
          reasonCode: Behavior.connackCode(credentials.reasonCode, level, {
            mqtt3: ReasonCode.V3Connack.BadUserNameOrPassword,
            mqtt5: ReasonCode.V5.BadUserNameOrPassword
          }),
          injected: { fault: "credentials", detail: `user ${JSON.stringify(connect.username ?? "")} refused` }
        }
      },
      refuse: (kind, topic) => {
        const rule = behavior()[kind]
        if (rule === undefined || !rule.topics.some((pattern) => Topic.matches(pattern, topic))) return undefined
        return {
          reasonCode: rule.reasonCode ?? ReasonCode.V5.NotAuthorized,
          injected: { fault: kind, detail: `${JSON.stringify(topic)} refused` }
        }
      },
      sessionExpiry: () => {
        const millis = behavior().sessionExpiry
        return millis === undefined
          ? undefined
          : {
              millis,
              injected: { fault: "sessionExpiry", detail: `session kept ${millis} ms after the connection closes` }
            }
      },
      packetIds: () => {
        const spec = behavior().packetIds
        if (spec === undefined) return undefined
        return {
          allocator: packetIdAllocator(spec, () => seeded("packetIds")),
          injected: { fault: "packetIds", detail: `packet ids of server publishes: ${spec.strategy}` }
        }
      },
      countPacket: (packetsIn) => {
        const { maxPackets, maxPacketsDelay } = behavior()
        if (maxPackets === undefined || stoppedHandling || packetsIn < maxPackets) return undefined
        stoppedHandling = true
        const wait = maxPacketsDelay ?? 0
        return {
          closeAfter: wait,
          injected: {
            fault: "maxPackets",
            detail: `closing after ${maxPackets} packets${wait > 0 ? ` and ${wait} ms` : ""}`
          }
        }
      },
      resendDelays: (level, packetId) => {
        const timeouts = behavior().ackTimeouts
        const timeout = level === 5 ? (timeouts?.mqtt5 ?? null) : timeouts?.mqtt3 === undefined ? 5000 : timeouts.mqtt3
        if (timeout === null) return undefined
        // The default needs no schedule: this runs for every QoS 1/2 message sent.
        if (timeout === 5000) return fixedDelay(DEFAULT_MQTT3_RESEND)
        if (typeof timeout === "number") return fixedDelay(Duration.millis(timeout))
        return Delay.stepper(timeout, seeded(`resend/${packetId}`))
      },
      outgoing: (packet) => packetFaults.outgoing(behavior().packetFaults?.faults, packet, faultRandom),
      releaseHeld: (packet) => packetFaults.release(packet),
      releaseAllHeld: () => packetFaults.releaseAll(),
      latency: (bytes, packets) =>
        Effect.suspend(() => {
          const latency = behavior().network?.latency
          if (latency === undefined) return Effect.succeed(undefined)
          return delayed(stepper("network/latency", latency), "network.latency", Network.describeWrite(bytes, packets))
        }),
      writePlan: (bytes, packets) => Network.writePlan(behavior().network, bytes, packets),
      linkWait: (now, length, bandwidth) => {
        // The piece has arrived when the link has carried its last byte; the link is shared by consecutive writes.
        linkFreeAt = Math.max(now, linkFreeAt) + (length * 1000) / bandwidth
        return linkFreeAt - now
      },
      readPlan: (bytes) => Network.readPlan(behavior().network?.readBandwidth, bytes)
    }
  }

  return {
    connection,
    options: Effect.sync(() => options),
    configure: (update) =>
      Effect.sync(() => {
        options = { ...options, ...update }
        version++
        return Object.keys(update)
      }),
    reset: Effect.sync(() => {
      const changed = Object.keys({ ...options, ...initial }).filter(
        (key) => (options as Record<string, unknown>)[key] !== (initial as Record<string, unknown>)[key]
      )
      options = initial
      version++
      return changed
    })
  }
}

/** The packet id allocator a behaviour asks for. */
const packetIdAllocator = (
  spec: Fault.PacketIds,
  random: () => ReturnType<typeof Delay.seededRandom>
): PacketId.PacketIdAllocator => {
  switch (spec.strategy) {
    case "sequential":
      return PacketId.sequential(spec.start)
    case "random": {
      const source = random()
      return PacketId.random(() => source.nextDoubleUnsafe())
    }
    case "lowestFree":
      return PacketId.lowestFree()
    case "reuse":
      return PacketId.reuse()
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
