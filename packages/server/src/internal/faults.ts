/**
 * Faults on what the server writes (see @mqttest/behavior's Fault module):
 * packet faults turn one outgoing packet into none, one or several, and
 * network impairments shape how the bytes reach the socket.
 */
import { Delay, type Fault } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import { Duration, Effect, type Random } from "effect"
import type * as Socket from "effect/socket/Socket"
import type { Broker } from "./broker.js"
import type { Connection } from "./connection.js"

const randomOf = (broker: Broker, conn: Connection): Random.Random => {
  conn.random ??= Effect.runSync(Delay.seededRandom(`${broker.deps.config.behavior.seed ?? 0}/${conn.id}/faults`))
  return conn.random
}

const withPacketId = (packet: Packet.Packet, packetId: number): Packet.Packet =>
  ({ ...packet, packetId }) as Packet.Packet

/** The packets to write for one packet, after the connection's packet faults. */
export const applyPacketFaults = (broker: Broker, conn: Connection, packet: Packet.Packet): Array<Packet.Packet> => {
  const faults = broker.behavior(conn).packetFaults?.faults
  let out: Array<Packet.Packet> = [packet]
  if (faults !== undefined) {
    // Every fault counts the packets of its type; the first one that fires applies.
    let fired: readonly [Fault.PacketFault, number] | undefined
    for (let index = 0; index < faults.length; index++) {
      const fault = faults[index]!
      if (fault.packet !== packet._tag) continue
      const count = (conn.faultCounts.get(index) ?? 0) + 1
      conn.faultCounts.set(index, count)
      const fires =
        fault.nth !== undefined
          ? count === fault.nth
          : fault.every !== undefined
            ? count % fault.every === 0
            : fault.probability !== undefined
              ? randomOf(broker, conn).nextDoubleUnsafe() < fault.probability
              : true
      if (fires && fired === undefined) fired = [fault, count]
    }
    if (fired !== undefined) {
      const [fault, count] = fired
      broker.fault(conn, "packetFaults", `${fault.action} ${packet._tag.toUpperCase()} #${count}`)
      const id = (packet as { readonly packetId?: number }).packetId
      switch (fault.action) {
        case "drop":
          out = []
          break
        case "duplicate":
        case "redeliver":
          out = [packet, packet]
          break
        case "redeliverDup":
          out = [packet, packet._tag === "Publish" && packet.qos > 0 ? { ...packet, dup: true } : packet]
          break
        case "spurious":
          // A second one, for an identifier the client never used (opposite half of the id space).
          if (id !== undefined) out = [packet, withPacketId(packet, ((id + 32767) % 65535) + 1)]
          break
        case "reorder":
          conn.reordered.set(packet._tag, packet)
          out = []
          break
        case "qosUpgrade":
          if (packet._tag === "Publish" && packet.qos < 2) {
            out = [
              { ...packet, qos: (packet.qos + 1) as Packet.QoS, packetId: id ?? conn.session?.allocatePacketId() ?? 1 }
            ]
          }
          break
      }
    }
  }
  // A packet held back by `reorder` goes out after the next one of its type.
  const held = conn.reordered.get(packet._tag)
  if (held !== undefined && held !== packet) {
    conn.reordered.delete(packet._tag)
    out.push(held)
  }
  return out
}

/**
 * Writes a batch of encoded packets through the connection's network
 * impairments: latency before the write, slicing into pieces with pauses,
 * and the time the bandwidth cap takes.
 */
export const writeImpaired = (
  broker: Broker,
  conn: Connection,
  writer: {
    readonly writeAll: (chunks: readonly [Uint8Array, ...Array<Uint8Array>]) => Effect.Effect<void, Socket.SocketError>
  },
  chunks: readonly [Uint8Array, ...Array<Uint8Array>]
): Effect.Effect<void, Socket.SocketError> =>
  Effect.gen(function* () {
    const network = broker.behavior(conn).network
    if (network === undefined) return yield* writer.writeAll(chunks)
    if (network.latency !== undefined) {
      const delay = yield* broker.stepper(conn, "network/latency", network.latency).next
      if (delay !== undefined) yield* Effect.sleep(delay)
    }
    const bytes = chunks.reduce((n, c) => n + c.length, 0)
    if (network.slice !== undefined) {
      const { size, pause = 0 } = network.slice
      const whole = new Uint8Array(bytes)
      let offset = 0
      for (const chunk of chunks) {
        whole.set(chunk, offset)
        offset += chunk.length
      }
      broker.fault(conn, "network", `${bytes} bytes written in slices of ${size}`)
      for (let at = 0; at < whole.length; at += size) {
        if (at > 0 && pause > 0) yield* Effect.sleep(Duration.millis(pause))
        yield* writer.writeAll([whole.subarray(at, at + size)])
      }
    } else {
      yield* writer.writeAll(chunks)
    }
    if (network.bandwidth !== undefined) yield* Effect.sleep(Duration.millis((bytes * 1000) / network.bandwidth))
  })
