/**
 * The packet faults of one connection: which fault fires on which outgoing
 * packet (`nth`, `every`, seeded `probability`), what is written in its
 * place, and the packets a `reorder` holds back. Decisions only: the server
 * writes and reports.
 */
import type { Packet } from "@mqttest/codec"
import { PacketId } from "@mqttest/session"
import type * as Random from "effect/Random"
import type { Injected, Outgoing } from "../Decision.js"
import type * as Fault from "../Fault.js"

const withPacketId = (packet: Packet.Packet, packetId: number): Packet.Packet =>
  ({ ...packet, packetId }) as Packet.Packet

/** Whether the fault fires on the `count`th packet of its type. */
const fires = (fault: Fault.PacketFault, count: number, random: () => Random.Random): boolean =>
  fault.nth !== undefined
    ? count === fault.nth
    : fault.every !== undefined
      ? count % fault.every === 0
      : fault.probability !== undefined
        ? random().nextDoubleUnsafe() < fault.probability
        : true

/** What one fault writes in place of `packet` (`reorder` is handled by the caller). */
const apply = (fault: Fault.PacketFault, packet: Packet.Packet): Array<Packet.Packet> => {
  const packetId = (packet as { readonly packetId?: number }).packetId
  switch (fault.action) {
    case "drop":
      return []
    case "duplicate":
    case "redeliver":
      return [packet, packet]
    case "redeliverDup":
      return [packet, packet._tag === "Publish" && packet.qos > 0 ? { ...packet, dup: true } : packet]
    case "spurious":
      // A second one, for an identifier the client never used (opposite half of the id space).
      return packetId === undefined ? [packet] : [packet, withPacketId(packet, ((packetId + 32767) % 65535) + 1)]
    case "qosUpgrade":
      // A QoS 0 PUBLISH upgraded has no packet id yet: the server gives it one.
      return packet._tag === "Publish" && packet.qos < 2
        ? [{ ...packet, qos: (packet.qos + 1) as Packet.QoS }]
        : [packet]
    case "reorder":
      return []
    case "split":
      return [packet]
  }
}

export class PacketFaults {
  /** Occurrences of each packet fault (by index in the list) so far. */
  private readonly counts = new Map<number, number>()
  /** Packets held back by `reorder`, by packet type. */
  private readonly held = new Map<string, { readonly packet: Packet.Packet; readonly maxHold: number }>()

  /** The list of faults changed: `nth` / `every` count from the change. */
  restartCounts(): void {
    this.counts.clear()
  }

  outgoing(
    faults: ReadonlyArray<Fault.PacketFault> | undefined,
    packet: Packet.Packet,
    random: () => Random.Random
  ): Outgoing {
    // A packet held back by `reorder` goes out right after the next one of its type.
    const before = this.held.get(packet._tag)?.packet
    if (faults === undefined && before === undefined) return { packets: [packet], injected: [] }
    if (before !== undefined) this.held.delete(packet._tag)
    let packets: Array<Packet.Packet> = [packet]
    let hold: Outgoing["held"]
    let split: Outgoing["split"]
    const injected: Array<Injected> = []
    // Every fault counts the packets of its type; the first one that fires applies.
    let fired: readonly [Fault.PacketFault, number] | undefined
    for (let index = 0; index < (faults?.length ?? 0); index++) {
      const fault = faults![index]!
      if (fault.packet !== packet._tag) continue
      const count = (this.counts.get(index) ?? 0) + 1
      this.counts.set(index, count)
      if (fires(fault, count, random) && fired === undefined) fired = [fault, count]
    }
    // A packet that completes a reordered pair is not held itself.
    if (fired !== undefined && !(fired[0].action === "reorder" && before !== undefined)) {
      const [fault, count] = fired
      packets = apply(fault, packet)
      if (fault.action === "reorder") {
        hold = { packet, maxHold: fault.maxHold ?? 1000 }
        this.held.set(packet._tag, hold)
      }
      if (fault.action === "split") split = { at: fault.at ?? 1, pause: fault.pause ?? 0 }
      const what = `${fault.action} ${packet._tag.toUpperCase()} #${count}`
      injected.push({
        fault: "packetFaults",
        detail:
          fault.action === "reorder"
            ? `${what} (held for the next one)`
            : split !== undefined
              ? `${what} after byte ${split.at}, the rest ${split.pause} ms later`
              : what
      })
    }
    if (before !== undefined) {
      packets.push(before)
      injected.push({
        fault: "packetFaults",
        detail: `reorder: held ${before._tag.toUpperCase()} sent after the next one`
      })
    }
    return { packets, held: hold, split, injected }
  }

  /** A held packet's `maxHold` passed: what to report when it was still held (it is released now). */
  release(packet: Packet.Packet): Injected | undefined {
    const entry = this.held.get(packet._tag)
    if (entry?.packet !== packet) return undefined
    this.held.delete(packet._tag)
    return {
      fault: "packetFaults",
      detail: `reorder: ${packet._tag.toUpperCase()} released alone after ${entry.maxHold} ms`
    }
  }

  /** Every packet still held, now released. */
  releaseAll(): ReadonlyArray<Packet.Packet> {
    const all = [...this.held.values()].map((entry) => entry.packet)
    this.held.clear()
    return all
  }
}

/** The packet id allocator a behaviour asks for. */
export const packetIdAllocator = (spec: Fault.PacketIds, random: () => Random.Random): PacketId.PacketIdAllocator => {
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
