/**
 * The policy of one connection (see `Policy.ConnectionPolicy`): its behaviour
 * as last resolved, its delay steppers, packet faults, seeded random sources
 * and link pacing. A class, so a connection costs its fields only; the maps
 * are made on first use.
 */
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import type { PacketId } from "@mqttest/session"
import { Topic } from "@mqttest/session"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Random from "effect/Random"
import * as Behavior from "../Behavior.js"
import type { AckTag, Delayed, Injected, Outgoing, ReadPlan, Refused, WritePlan } from "../Decision.js"
import * as Delay from "../Delay.js"
import * as Network from "./network.js"
import { PacketFaults, packetIdAllocator } from "./packetFaults.js"

/** The options in force, shared by every connection of a policy; `version` counts changes. */
export interface SharedOptions {
  options: Behavior.BehaviorConfig
  version: number
}

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

const delayed = (stepper: Delay.Stepper, fault: string, what: string) =>
  Effect.map(stepper.next, (duration): Delayed | undefined =>
    duration === undefined
      ? undefined
      : { duration, injected: { fault, detail: `${what} delayed by ${Duration.toMillis(duration)} ms` } }
  )

export class PolicyOfConnection {
  private clientId: string | undefined = undefined
  private resolved: Behavior.Behavior | undefined = undefined
  private resolvedVersion = -1
  private resolvedClientId: string | undefined = undefined
  private steppers: Map<string, Delay.Stepper> | undefined = undefined
  private faults: PacketFaults | undefined = undefined
  private random: Random.Random | undefined = undefined
  private linkFreeAt = 0
  private stoppedHandling = false

  constructor(
    private readonly shared: SharedOptions,
    readonly connection: number
  ) {}

  /** The behaviour in force, re-resolved when the options or the client id changed. */
  get behavior(): Behavior.Behavior {
    const { options, version } = this.shared
    if (this.resolved === undefined || this.resolvedVersion !== version || this.resolvedClientId !== this.clientId) {
      const previous = this.resolved
      this.resolved = Behavior.resolve(options, this.connection, this.clientId)
      this.resolvedVersion = version
      this.resolvedClientId = this.clientId
      this.steppers?.clear()
      // A changed list of packet faults counts `nth` / `every` from the change.
      if (previous !== undefined && previous.packetFaults !== this.resolved.packetFaults) this.faults?.restartCounts()
    }
    return this.resolved
  }

  identify(clientId: string): void {
    this.clientId = clientId
  }

  private seeded(purpose: string): Random.Random {
    return Delay.seededRandom(`${this.shared.options.seed ?? 0}/${this.connection}/${purpose}`)
  }

  /** A stepper kept between uses, so the Nth occurrence gets the Nth delay. */
  private stepper(purpose: string, delay: Delay.Delay): Delay.Stepper {
    this.steppers ??= new Map()
    let found = this.steppers.get(purpose)
    if (found === undefined) {
      found = Delay.stepper(delay, this.seeded(purpose))
      this.steppers.set(purpose, found)
    }
    return found
  }

  ackDelay(tag: AckTag): Effect.Effect<Delayed | undefined> | undefined {
    const configured = this.behavior.ackDelay
    const delay = configured === undefined ? undefined : isPerType(configured) ? configured[ackKey[tag]] : configured
    return delay === undefined ? undefined : delayed(this.stepper(`ack/${tag}`, delay), "ackDelay", tag.toUpperCase())
  }

  get connackDelay(): Effect.Effect<Delayed | undefined> {
    const delay = this.behavior.connackDelay
    return delay === undefined
      ? Effect.succeed(undefined)
      : delayed(this.stepper("connack", delay), "connackDelay", "CONNACK")
  }

  refuseConnect(connect: Packet.Connect, name: string): Refused | undefined {
    const { clientIdPrefix: prefix, credentials } = this.behavior
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
  }

  refuse(kind: "refuseSubscribe" | "refusePublish" | "refuseUnsubscribe", topic: string): Refused | undefined {
    const rule = this.behavior[kind]
    if (rule === undefined || !rule.topics.some((pattern) => Topic.matches(pattern, topic))) return undefined
    return {
      reasonCode: rule.reasonCode ?? ReasonCode.V5.NotAuthorized,
      injected: { fault: kind, detail: `${JSON.stringify(topic)} refused` }
    }
  }

  sessionExpiry(): { readonly millis: number; readonly injected: Injected } | undefined {
    const millis = this.behavior.sessionExpiry
    return millis === undefined
      ? undefined
      : {
          millis,
          injected: { fault: "sessionExpiry", detail: `session kept ${millis} ms after the connection closes` }
        }
  }

  packetIds(): { readonly allocator: PacketId.PacketIdAllocator; readonly injected: Injected } | undefined {
    const spec = this.behavior.packetIds
    if (spec === undefined) return undefined
    return {
      allocator: packetIdAllocator(spec, () => this.seeded("packetIds")),
      injected: { fault: "packetIds", detail: `packet ids of server publishes: ${spec.strategy}` }
    }
  }

  countPacket(packetsIn: number): { readonly closeAfter: number; readonly injected: Injected } | undefined {
    const { maxPackets, maxPacketsDelay } = this.behavior
    if (maxPackets === undefined || this.stoppedHandling || packetsIn < maxPackets) return undefined
    this.stoppedHandling = true
    const wait = maxPacketsDelay ?? 0
    return {
      closeAfter: wait,
      injected: {
        fault: "maxPackets",
        detail: `closing after ${maxPackets} packets${wait > 0 ? ` and ${wait} ms` : ""}`
      }
    }
  }

  resendDelays(level: Packet.ProtocolLevel, packetId: number): Delay.Stepper | undefined {
    const timeouts = this.behavior.ackTimeouts
    const timeout = level === 5 ? (timeouts?.mqtt5 ?? null) : timeouts?.mqtt3 === undefined ? 5000 : timeouts.mqtt3
    if (timeout === null) return undefined
    // The default needs no schedule: this runs for every QoS 1/2 message sent.
    if (timeout === 5000) return fixedDelay(DEFAULT_MQTT3_RESEND)
    if (typeof timeout === "number") return fixedDelay(Duration.millis(timeout))
    return Delay.stepper(timeout, this.seeded(`resend/${packetId}`))
  }

  outgoing(packet: Packet.Packet): Outgoing {
    const faults = this.behavior.packetFaults?.faults
    if (faults === undefined && this.faults === undefined) return { packets: [packet], injected: [] }
    this.faults ??= new PacketFaults()
    return this.faults.outgoing(faults, packet, () => {
      if (this.random === undefined) this.random = this.seeded("faults")
      return this.random
    })
  }

  releaseHeld(packet: Packet.Packet): Injected | undefined {
    return this.faults?.release(packet)
  }

  releaseAllHeld(): ReadonlyArray<Packet.Packet> {
    return this.faults?.releaseAll() ?? []
  }

  latency(bytes: number, packets: number): Effect.Effect<Delayed | undefined> {
    const latency = this.behavior.network?.latency
    if (latency === undefined) return Effect.succeed(undefined)
    return delayed(this.stepper("network/latency", latency), "network.latency", Network.describeWrite(bytes, packets))
  }

  writePlan(bytes: number, packets: number): WritePlan | undefined {
    return Network.writePlan(this.behavior.network, bytes, packets)
  }

  linkWait(now: number, length: number, bandwidth: number): number {
    // The piece has arrived when the link has carried its last byte; the link is shared by consecutive writes.
    this.linkFreeAt = Math.max(now, this.linkFreeAt) + (length * 1000) / bandwidth
    return this.linkFreeAt - now
  }

  readPlan(bytes: Uint8Array): ReadPlan | undefined {
    return Network.readPlan(this.behavior.network?.readBandwidth, bytes)
  }
}
