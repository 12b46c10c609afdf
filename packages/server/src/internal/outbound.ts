/**
 * The outbound half of a connection, as a Stream pipeline: the bounded
 * outbox → MQTT 5 adjustments → packet faults (Policy) → encoder → network
 * impairments (Policy) → socket writes, a batch at a time. Ending the outbox
 * (see `Connection.close`) ends the pipeline once everything queued before
 * has been written; then the socket is closed (FIN, or RST when the test
 * asks for it).
 */
import { Encoder, type Packet } from "@mqttest/codec"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type * as Socket from "effect/socket/Socket"
import type { Broker, EventInput } from "./broker.js"
import type { Connection } from "./connection.js"
import * as Decisions from "./decisions.js"
import * as Impairments from "./impairments.js"
import type { Outgoing } from "./outbox.js"
import { breaks, prepare } from "./outgoing.js"
import * as Routing from "./routing.js"

export interface OutboundDeps {
  readonly broker: Broker
  readonly conn: Connection
  readonly emit: (event: EventInput) => void
  readonly writer: Impairments.Writer
  /** Completes once the dump has every event so far (immediate without dumps). */
  readonly dumped: Effect.Effect<void>
  /** An abortive close (TCP RST). */
  readonly reset: () => void
}

/** The packets that acknowledge something a client sent: they wait for the dump (see dumper.ts `flushed`). */
const acknowledgements = new Set(["Connack", "Puback", "Pubrec", "Pubrel", "Pubcomp", "Suback", "Unsuback"])
const acknowledges = (packet: Packet.Packet) => acknowledgements.has(packet._tag)

/** Real time between the last write and an RST close (see `network.close`). */
const RST_GRACE_MS = 100
const liveClock = Clock.Clock.defaultValue()

/** Runs the outbound pipeline until the outbox ends, then closes the socket as the policy says. */
export const run = (deps: OutboundDeps): Effect.Effect<void, Socket.SocketError> => {
  const { broker, conn, emit } = deps
  const config = broker.config
  const outbox = conn.outbox.queue
  let lastWrite = Number.NEGATIVE_INFINITY

  /** A packet the client cannot take (e.g. larger than its Maximum Packet Size) is dropped [MQTT-3.1.2-25]. */
  const notSent = (packet: Packet.Packet, message: string) => {
    broker.warn(conn, `${packet._tag.toUpperCase()} not sent: ${message}`, "MQTT-3.1.2-25")
    if (packet._tag === "Publish" && packet.packetId !== undefined && conn.session !== undefined) {
      Routing.completeOutbound(broker, conn, conn.session, packet.packetId)
    }
  }

  /** Reports a fault on this connection (made once: `prepare` runs for every packet). */
  const report = (injected: { readonly fault: string; readonly detail: string }) => broker.report(conn, injected)

  /** A short-form ack in MQTT 5 (success, no properties), which `explicitReasonCodes` writes in full. */
  const shortAck = (packet: Packet.Packet) =>
    (packet._tag === "Puback" || packet._tag === "Pubrec" || packet._tag === "Pubrel" || packet._tag === "Pubcomp") &&
    (packet.reasonCode ?? 0) === 0 &&
    (packet.properties === undefined || Object.keys(packet.properties).length === 0)

  /**
   * Encodes packets for the wire; those the client cannot take are dropped with a Warning. A
   * `split` fault's packet leaves a cut: its first bytes end a write, the rest starts the next.
   */
  const encodeAll = (packets: ReadonlyArray<Packet.Packet>) => {
    const chunks: Array<Uint8Array> = []
    const sent: Array<Packet.Packet> = []
    const cuts = new Map<number, Impairments.Split>()
    const behavior = conn.policy.behavior
    const limit = conn.limits.maximumPacketSize
    const overLimit = limit !== undefined && breaks(conn, "maximumPacketSize")
    const explicitReasonCodes = behavior.explicitReasonCodes === true && conn.level === 5
    for (const packet of packets) {
      const encoded = Encoder.encode(packet, conn.level, {
        maxPacketSize: overLimit ? undefined : limit,
        explicitReasonCodes
      })
      if (encoded._tag === "Failure") {
        notSent(packet, encoded.failure.message)
        continue
      }
      if (overLimit && encoded.success.length > limit) {
        broker.report(conn, {
          fault: "breakClientLimits.maximumPacketSize",
          detail: `${packet._tag.toUpperCase()} of ${encoded.success.length} bytes; the client's Maximum Packet Size is ${limit}`
        })
      }
      if (explicitReasonCodes && shortAck(packet)) {
        broker.report(conn, {
          fault: "explicitReasonCodes",
          detail: `${packet._tag.toUpperCase()} with reason code 0x00 and property length 0 (Remaining Length 4, not 2)`
        })
      }
      const split = Impairments.splitOf(packet)
      if (split !== undefined) cuts.set(chunks.length, split)
      chunks.push(encoded.success)
      sent.push(packet)
      conn.countOut(encoded.success.length)
    }
    return { chunks, sent, cuts }
  }

  /** Writes encoded packets through the impairments, then reports each as sent. */
  const write = Effect.fnUntraced(function* (packets: ReadonlyArray<Packet.Packet>) {
    const { chunks, sent, cuts } = encodeAll(packets)
    if (chunks.length === 0) return sent
    // What a client gets an acknowledgement for is in the dump before the acknowledgement leaves.
    if (sent.some(acknowledges)) yield* deps.dumped
    if (cuts.size === 0) {
      yield* Impairments.writeImpaired(broker, conn, deps.writer, chunks as [Uint8Array, ...Array<Uint8Array>])
    } else {
      // Split packets: each write ends with a packet's first bytes; the rest waits for the pause.
      let pending: Array<Uint8Array> = []
      for (const [index, chunk] of chunks.entries()) {
        const cut = cuts.get(index)
        if (cut === undefined || chunk.length < 2) {
          pending.push(chunk)
          continue
        }
        const at = Math.min(cut.at, chunk.length - 1)
        pending.push(chunk.subarray(0, at))
        yield* Impairments.writeImpaired(broker, conn, deps.writer, pending as [Uint8Array, ...Array<Uint8Array>])
        if (cut.pause > 0) yield* Effect.sleep(Duration.millis(cut.pause))
        pending = [chunk.subarray(at)]
      }
      if (pending.length > 0) {
        yield* Impairments.writeImpaired(broker, conn, deps.writer, pending as [Uint8Array, ...Array<Uint8Array>])
      }
    }
    lastWrite = liveClock.currentTimeMillisUnsafe()
    return sent
  })

  const reportSent = (sent: ReadonlyArray<Packet.Packet>) => {
    for (const packet of sent) {
      conn.countPacketOut()
      emit({
        _tag: "PacketSent",
        connection: conn.id,
        ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
        packet
      })
      // A configured blackhole counts from the CONNACK the client got.
      if (packet._tag === "Connack" && packet.reasonCode === 0) Decisions.armBlackhole(broker, conn)
    }
  }

  /** One batch taken from the outbox: through the packet faults, then written. */
  const writeBatch = Effect.fnUntraced(function* (batch: ReadonlyArray<Outgoing>) {
    let items = batch
    const coalesce = conn.policy.behavior.network?.coalesce
    if (coalesce !== undefined && coalesce > 0 && conn.closing === undefined) {
      // Coalescing: wait, then write everything queued meanwhile in one go.
      yield* Effect.sleep(Duration.millis(coalesce))
      if (Queue.sizeUnsafe(outbox) > 0) {
        items = [...items, ...(yield* Queue.takeAll(outbox).pipe(Effect.orElseSucceed(() => [])))]
      }
      if (items.length > 1) {
        broker.report(conn, { fault: "network.coalesce", detail: `${items.length} packets gathered into one write` })
      }
    }
    const packets: Array<Packet.Packet> = []
    // A blackholed connection writes nothing more.
    if (!conn.blackholed) {
      for (const item of items) {
        if (item._tag === "Released") {
          packets.push(item.packet)
          continue
        }
        // Packets a reorder fault still holds go out before a DISCONNECT: none is lost.
        if (item._tag === "Disconnect") packets.push(...Impairments.releaseHeld(conn))
        packets.push(
          ...Impairments.applyPacketFaults(broker, conn, prepare(conn, item, config.assignTopicAliases, report))
        )
      }
    }
    const sent = yield* write(packets)
    // The socket took the batch: the outbox has room again, and a stopped reader may read on.
    conn.outbox.taken(items.length)
    Routing.caughtUp(broker, conn)
    reportSent(sent)
  })

  /** The outbox ended: what a reorder fault still holds goes out, then the socket closes. */
  const close = Effect.gen(function* () {
    if (!conn.blackholed) reportSent(yield* write(Impairments.releaseHeld(conn)))
    // RST instead of FIN, when the test asks for it: after a grace period from the last write
    // (real time), so the client has read what came before and sees the reset itself.
    if (conn.policy.behavior.network?.close === "rst") {
      const wait = lastWrite + RST_GRACE_MS - liveClock.currentTimeMillisUnsafe()
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait)).pipe(Effect.provideService(Clock.Clock, liveClock))
      broker.report(conn, { fault: "network.close", detail: "connection closed with a TCP RST" })
      deps.reset()
    }
  })

  return Stream.fromQueue(outbox).pipe(Stream.runForEachArray(writeBatch), Effect.andThen(close))
}
