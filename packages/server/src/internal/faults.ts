/**
 * Faults on what the server writes (see @mqttest/behavior's Fault module):
 * packet faults turn one outgoing packet into none, one or several, and
 * network impairments shape how the bytes reach the socket.
 */
import { Delay, type Fault } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import { Clock, Duration, Effect, type Random } from "effect"
import type * as Socket from "effect/socket/Socket"
import type { Broker } from "./broker.js"
import type { Connection } from "./connection.js"

const randomOf = (broker: Broker, conn: Connection): Random.Random => {
  conn.random ??= Delay.seededRandom(`${broker.deps.config.behavior.seed ?? 0}/${conn.id}/faults`)
  return conn.random
}

const withPacketId = (packet: Packet.Packet, packetId: number): Packet.Packet =>
  ({ ...packet, packetId }) as Packet.Packet

/** Writes a held packet alone once it has waited `maxHold` ms and is still held. */
const releaseLater = (broker: Broker, conn: Connection, packet: Packet.Packet, maxHold: number): void => {
  conn.io.fork(
    Effect.sleep(Duration.millis(maxHold)).pipe(
      Effect.andThen(
        Effect.sync(() => {
          if (conn.reordered.get(packet._tag) !== packet) return
          conn.reordered.delete(packet._tag)
          broker.fault(conn, "packetFaults", `reorder: ${packet._tag.toUpperCase()} released alone after ${maxHold} ms`)
          conn.io.write({ _tag: "Released", packet })
        })
      )
    )
  )
}

/** Packets a `reorder` fault still holds, to write before the connection closes. */
export const releaseHeld = (conn: Connection): Array<Packet.Packet> => {
  const held = [...conn.reordered.values()]
  conn.reordered.clear()
  return held
}

/** The packets to write for one packet, after the connection's packet faults. */
export const applyPacketFaults = (broker: Broker, conn: Connection, packet: Packet.Packet): Array<Packet.Packet> => {
  const faults = broker.behavior(conn).packetFaults?.faults
  let out: Array<Packet.Packet> = [packet]
  // A packet held back by `reorder` goes out right after the next one of its type.
  const held = conn.reordered.get(packet._tag)
  if (held !== undefined) conn.reordered.delete(packet._tag)
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
    // A packet that completes a reordered pair is not held itself.
    if (fired !== undefined && !(fired[0].action === "reorder" && held !== undefined)) {
      const [fault, count] = fired
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
          releaseLater(broker, conn, packet, fault.maxHold ?? 1000)
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
      const what = `${fault.action} ${packet._tag.toUpperCase()} #${count}`
      broker.fault(conn, "packetFaults", fault.action === "reorder" ? `${what} (held for the next one)` : what)
    }
  }
  if (held !== undefined) {
    out.push(held)
    broker.fault(conn, "packetFaults", `reorder: held ${held._tag.toUpperCase()} sent after the next one`)
  }
  return out
}

/** What the FaultInjected events of network impairments say a write was. */
const describeWrite = (bytes: number, packets: number) =>
  `${packets} packet${packets === 1 ? "" : "s"} (${bytes} bytes)`

/**
 * Writes a batch of encoded packets through the connection's network
 * impairments: latency before the write, then the bytes in pieces — of the
 * slice size with its pause, and/or paced by the bandwidth cap (each piece is
 * written when the link would have carried it; the link is shared by
 * consecutive writes). Each impairment that applies is a FaultInjected event.
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
    const bytes = chunks.reduce((n, c) => n + c.length, 0)
    const what = describeWrite(bytes, chunks.length)
    if (network.latency !== undefined) {
      const delay = yield* broker.stepper(conn, "network/latency", network.latency).next
      if (delay !== undefined) {
        broker.fault(conn, "network.latency", `${what} delayed by ${Duration.toMillis(delay)} ms`)
        yield* Effect.sleep(delay)
      }
    }
    const { slice, bandwidth } = network
    if (slice === undefined && bandwidth === undefined) return yield* writer.writeAll(chunks)
    const whole = new Uint8Array(bytes)
    let offset = 0
    for (const chunk of chunks) {
      whole.set(chunk, offset)
      offset += chunk.length
    }
    // A bandwidth cap writes pieces of about 1/20 s of the link.
    const piece = Math.max(
      1,
      Math.min(slice?.size ?? bytes, bandwidth === undefined ? bytes : Math.floor(bandwidth / 20))
    )
    const pause = slice?.pause ?? 0
    if (slice !== undefined) {
      broker.fault(conn, "network.slice", `${what} in pieces of ${slice.size}${pause > 0 ? `, ${pause} ms apart` : ""}`)
    }
    if (bandwidth !== undefined) {
      broker.fault(
        conn,
        "network.bandwidth",
        `${what} paced at ${bandwidth} bytes/s (${Math.round((bytes * 1000) / bandwidth)} ms)`
      )
    }
    for (let at = 0; at < whole.length; at += piece) {
      const part = whole.subarray(at, at + piece)
      if (at > 0 && pause > 0) yield* Effect.sleep(Duration.millis(pause))
      if (bandwidth !== undefined) {
        // The piece arrives when the link has carried its last byte.
        const now = yield* Clock.currentTimeMillis
        const done = Math.max(now, conn.linkFreeAt) + (part.length * 1000) / bandwidth
        conn.linkFreeAt = done
        if (done > now) yield* Effect.sleep(Duration.millis(done - now))
      }
      yield* writer.writeAll([part])
    }
  })

/**
 * The `network.readBandwidth` fault (a slow consumer): the bytes just read
 * from a client, in pieces of about 1/20 s, and the wait before each piece is
 * handled. While the server waits it does not read the socket, so TCP pushes
 * back on the client's writes. Without the fault: the bytes as they are.
 */
export const readPieces = (
  broker: Broker,
  conn: Connection,
  bytes: Uint8Array
): {
  readonly pieces: ReadonlyArray<Uint8Array>
  /** Whether the pieces are paced (without the fault: one piece, no wait). */
  readonly paced: boolean
  readonly wait: (piece: Uint8Array) => Effect.Effect<void>
} => {
  const bandwidth = broker.behavior(conn).network?.readBandwidth
  if (bandwidth === undefined) return { pieces: [bytes], paced: false, wait: () => Effect.void }
  broker.fault(conn, "network.readBandwidth", `${bytes.length} bytes read at ${bandwidth} bytes/s`)
  const size = Math.max(1, Math.floor(bandwidth / 20))
  const pieces: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size))
  return { pieces, paced: true, wait: (piece) => Effect.sleep(Duration.millis((piece.length * 1000) / bandwidth)) }
}
