/**
 * Carrying out the Policy's decisions on what goes over the wire: packet
 * faults turn one outgoing packet into none, one or several; network
 * impairments shape how the bytes reach the socket, and how fast a client's
 * bytes are read. The Policy decides (and says what to report); this module
 * writes, waits and reports.
 */
import type { Packet } from "@mqttest/codec"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Socket from "effect/socket/Socket"
import type { Broker } from "./broker.js"
import type { Connection } from "./connection.js"

/** Writes a held packet alone once it has waited `maxHold` ms and is still held. */
const releaseLater = (broker: Broker, conn: Connection, packet: Packet.Packet, maxHold: number): void => {
  conn.io.fork(
    Effect.sleep(Duration.millis(maxHold)).pipe(
      Effect.andThen(
        Effect.sync(() => {
          const released = conn.policy.releaseHeld(packet)
          if (released === undefined) return
          broker.report(conn, released)
          conn.io.write({ _tag: "Released", packet })
        })
      )
    )
  )
}

/** A `split` fault's cut: the first `at` bytes of the packet, then the rest `pause` ms later. */
export interface Split {
  readonly at: number
  readonly pause: number
}

/** The packets a `split` fault chose, until they are encoded (by identity: each is a packet object of its own). */
const splits = new WeakMap<Packet.Packet, Split>()

/** The cut a `split` fault chose for this packet, if any. */
export const splitOf = (packet: Packet.Packet): Split | undefined => splits.get(packet)

/** The packets to write for one packet, after the connection's packet faults. */
export const applyPacketFaults = (
  broker: Broker,
  conn: Connection,
  packet: Packet.Packet
): ReadonlyArray<Packet.Packet> => {
  const outgoing = conn.policy.outgoing(packet)
  if (outgoing.injected.length === 0 && outgoing.held === undefined) return outgoing.packets
  for (const injected of outgoing.injected) broker.report(conn, injected)
  if (outgoing.held !== undefined) releaseLater(broker, conn, outgoing.held.packet, outgoing.held.maxHold)
  if (outgoing.split !== undefined && outgoing.packets.length === 1) {
    // A copy of its own, so that the cut cannot apply to the same object queued elsewhere.
    const cut = { ...outgoing.packets[0]! } as Packet.Packet
    splits.set(cut, outgoing.split)
    return [cut]
  }
  // A QoS 0 PUBLISH upgraded to QoS 1 needs a packet id of the session.
  return outgoing.packets.map((out) =>
    out._tag === "Publish" && out.qos > 0 && out.packetId === undefined
      ? { ...out, packetId: conn.session?.allocatePacketId() ?? 1 }
      : out
  )
}

/**
 * Writes a batch of encoded packets through the connection's network
 * impairments: latency before the write, then the bytes in pieces — of the
 * slice size with its pause, and/or paced by the bandwidth cap (each piece is
 * written when the link would have carried it). Each impairment that applies
 * is a FaultInjected event.
 */
export const writeImpaired = (
  broker: Broker,
  conn: Connection,
  writer: Writer,
  chunks: readonly [Uint8Array, ...Array<Uint8Array>]
): Effect.Effect<void, Socket.SocketError> =>
  // Without impairments, the write itself (this runs for every batch).
  conn.policy.behavior.network === undefined ? writer.writeAll(chunks) : impaired(broker, conn, writer, chunks)

export interface Writer {
  readonly writeAll: (chunks: readonly [Uint8Array, ...Array<Uint8Array>]) => Effect.Effect<void, Socket.SocketError>
}

const impaired = Effect.fnUntraced(function* (
  broker: Broker,
  conn: Connection,
  writer: Writer,
  chunks: readonly [Uint8Array, ...Array<Uint8Array>]
) {
  const bytes = chunks.reduce((n, c) => n + c.length, 0)
  const delayed = yield* conn.policy.latency(bytes, chunks.length)
  if (delayed !== undefined) {
    broker.report(conn, delayed.injected)
    yield* Effect.sleep(delayed.duration)
  }
  const plan = conn.policy.writePlan(bytes, chunks.length)
  if (plan === undefined) return yield* writer.writeAll(chunks)
  for (const injected of plan.injected) broker.report(conn, injected)
  const whole = new Uint8Array(bytes)
  let offset = 0
  for (const chunk of chunks) {
    whole.set(chunk, offset)
    offset += chunk.length
  }
  for (let at = 0; at < whole.length; at += plan.piece) {
    const part = whole.subarray(at, at + plan.piece)
    if (at > 0 && plan.pause > 0) yield* Effect.sleep(Duration.millis(plan.pause))
    if (plan.bandwidth !== undefined) {
      const wait = conn.policy.linkWait(yield* Clock.currentTimeMillis, part.length, plan.bandwidth)
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
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
  const plan = conn.policy.readPlan(bytes)
  if (plan === undefined) return { pieces: [bytes], paced: false, wait: () => Effect.void }
  broker.report(conn, plan.injected)
  return { pieces: plan.pieces, paced: true, wait: (piece) => Effect.sleep(Duration.millis(plan.waitMillis(piece))) }
}

/** Packets a `reorder` fault still holds, to write before the connection closes. */
export const releaseHeld = (conn: Connection): ReadonlyArray<Packet.Packet> => conn.policy.releaseAllHeld()
