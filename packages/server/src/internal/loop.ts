/**
 * The loop of one connection: socket bytes → parser → handler, and outbox →
 * faults → encoder → (impaired) socket writes, with the connect timeout and
 * max-time timers; everything in one scope that closes with the connection.
 */

import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"
import type { Policy } from "@mqttest/behavior"
import { type CodecError, Encoder, type Packet, Parser } from "@mqttest/codec"
import { Cause, Clock, Deferred, Duration, Effect, Exit, FiberMap, FiberSet, Latch, Queue } from "effect"
import type * as Socket from "effect/socket/Socket"
import type { CloseReason } from "../ServerEvent.js"
import type { Broker, EventInput } from "./broker.js"
import { CLOSE, Connection, type Outgoing, STALL_MS } from "./connection.js"
import * as Decisions from "./decisions.js"
import { dispatch } from "./handlers/index.js"
import * as Impairments from "./impairments.js"
import { prepare } from "./outgoing.js"
import * as Routing from "./routing.js"
import * as Transport from "./transport.js"

export interface LoopDeps {
  readonly broker: Broker
  /** The test's policy: each connection asks it for its own. */
  readonly policy: Policy.Shape
  readonly now: () => number
  readonly emit: (event: EventInput) => void
  /** False once the server is stopping: a connection accepted then is closed at once. */
  readonly accepting: () => boolean
  /** Called after each connection has ended and been finalized. */
  readonly onClosed: () => void
  /** Completes once the dump has every event so far (immediate without dumps). */
  readonly dumped: Effect.Effect<void>
  /** The dump is far behind: read no more until it has caught up. */
  readonly dumpLagging: () => boolean
}

const textEncoder = new TextEncoder()

/** The packets that acknowledge something a client sent: they wait for the dump (see dumper.ts `flushed`). */
const acknowledgements = new Set(["Connack", "Puback", "Pubrec", "Pubrel", "Pubcomp", "Suback", "Unsuback"])
const acknowledges = (packet: Packet.Packet) => acknowledgements.has(packet._tag)

/** Real time between the last write and an RST close (see `network.close`). */
const RST_GRACE_MS = 100
const liveClock = Clock.Clock.defaultValue()

/** A handler for accepted sockets. */
export const makeHandler = (deps: LoopDeps): ((link: Transport.Link) => Effect.Effect<void>) => {
  const { broker, now, emit } = deps
  const config = broker.config
  let nextConnection = 0

  const codecViolation = (conn: Connection, error: CodecError.CodecError) => {
    if (error.reason._tag === "UnsupportedProtocolLevel") {
      // CONNACK 0x01 in the 3.1.1 layout, which any client can read [MQTT-3.1.2-2].
      conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: 1 })
    }
    broker.violation(conn, error.message, error.reason.spec, error.disconnectReasonCode)
  }

  /**
   * A defect (a bug, or a user-supplied Schedule or function that died) in the
   * work of a connection: a visible warning with the cause, and the connection
   * closed with reason `InternalError` (MQTT 5: DISCONNECT 0x80 first).
   */
  const internalError = (conn: Connection, cause: Cause.Cause<unknown>) => {
    if (conn.closing !== undefined) return
    broker.warn(conn, `internal error on connection ${conn.id}: ${Cause.pretty(cause)}`)
    broker.close(conn, "InternalError", 0x80)
  }

  /** A packet the client cannot take (e.g. larger than its Maximum Packet Size) is dropped [MQTT-3.1.2-25]. */
  const notSent = (conn: Connection, packet: Packet.Packet, error: CodecError.CodecError) => {
    broker.warn(conn, `${packet._tag.toUpperCase()} not sent: ${error.message}`, "MQTT-3.1.2-25")
    if (packet._tag === "Publish" && packet.packetId !== undefined && conn.session !== undefined) {
      Routing.completeOutbound(broker, conn, conn.session, packet.packetId)
    }
  }

  return (link: Transport.Link): Effect.Effect<void> =>
    Effect.gen(function* () {
      const net = link.duplex
      const socket = yield* NodeSocket.fromDuplex(
        Effect.acquireRelease(Effect.succeed(net), (duplex) => Effect.sync(() => Transport.endSoon(duplex)))
      )
      // The policies keep it near maxOutbox (PUBLISHes wait or meet `slowConsumer`, the client is not read
      // while 2 × maxOutbox are queued: see routing.ts and waitForRoom below); the capacity is a backstop.
      const outboxCapacity = 4 * config.maxOutbox + 1024
      const outbox = yield* Queue.bounded<Outgoing>(outboxCapacity)
      // Open while the outbox has room: publishers to this client wait on it (see routing.ts pushBack).
      const room = yield* Latch.make(true)
      const fork = yield* FiberSet.makeRuntime<never>()
      const runTimer = yield* FiberMap.makeRuntime<never, string>()
      /** A defect in a connection's work is reported, and closes the connection. */
      const reported = (effect: Effect.Effect<unknown, unknown>) =>
        Effect.catchCause(effect, (cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => internalError(conn, cause))
        )
      const id = nextConnection++
      const conn = new Connection(
        id,
        link.remoteAddress,
        link.remotePort,
        {
          write: (item) => {
            if (item !== CLOSE && ++conn.unwritten >= config.maxOutbox) room.closeUnsafe()
            if (Queue.offerUnsafe(outbox, item) || conn.closing === "SlowConsumer") return
            // Past the backstop the connection goes, not the server's memory.
            broker.warn(conn, `outbox over ${outboxCapacity} packets: connection closed`)
            conn.closing = "SlowConsumer"
            net.destroy()
          },
          room: room.await,
          fork: (effect) => void fork(reported(effect)),
          timer: (key, effect) => void runTimer(key, reported(effect)),
          // Replacing a key interrupts the fiber under it; an empty effect then leaves the key free.
          cancelTimer: (key) => void runTimer(key, Effect.void),
          destroy: () => void net.destroy(),
          reset: link.reset
        },
        deps.policy.connection(id),
        now()
      )
      broker.accept(conn)
      emit({
        _tag: "ConnectionOpened",
        connection: conn.id,
        remoteAddress: conn.remoteAddress,
        remotePort: conn.remotePort
      })
      let ended: CloseReason | undefined
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          broker.finalize(conn, conn.closing ?? ended ?? "ServerStopped")
          deps.onClosed()
        })
      )
      if (!deps.accepting()) broker.close(conn, "ServerStopped")

      const closed = yield* Deferred.make<void>()
      const writer = yield* socket.writer
      // A client that sends faster than it reads is not read on while its outbox holds twice the bound.
      const readPauseAt = 2 * config.maxOutbox
      const readable = yield* Latch.make(true)
      /**
       * Holds the reader while a consumer this client publishes to has a full outbox, until it has
       * room, or for `STALL_MS` at most (then that consumer counts as stalled and the policy applies).
       */
      const waitForConsumer = Effect.suspend(() => {
        const consumer = conn.blockedBy
        conn.blockedBy = undefined
        if (consumer === undefined || consumer.closing !== undefined) return Effect.void
        return consumer.io.room.pipe(
          Effect.timeoutOrElse({ duration: Duration.millis(STALL_MS), orElse: () => Effect.void }),
          Effect.provideService(Clock.Clock, liveClock)
        )
      })
      /** Holds the reader while the outbox is at twice its bound; a Warning says so once per episode. */
      const waitForRoom = Effect.suspend(() => {
        if (conn.unwritten < readPauseAt) return Effect.void
        readable.closeUnsafe()
        if (!conn.readPaused) {
          conn.readPaused = true
          broker.warn(
            conn,
            `client ${conn.clientId ?? `on connection ${conn.id}`} does not read what it is sent: not read until its outbox drains (${conn.unwritten} packets)`
          )
        }
        return readable.await
      })
      let lastWrite = Number.NEGATIVE_INFINITY
      const writeLoop = Effect.gen(function* () {
        while (true) {
          let items: Array<Outgoing> = yield* Queue.takeAll(outbox)
          const coalesce = conn.policy.behavior.network?.coalesce
          if (coalesce !== undefined && coalesce > 0 && !items.includes(CLOSE)) {
            // Coalescing: wait, then write everything queued meanwhile in one go.
            yield* Effect.sleep(Duration.millis(coalesce))
            if (Queue.sizeUnsafe(outbox) > 0) items = [...items, ...(yield* Queue.takeAll(outbox))]
          }
          if (coalesce !== undefined && coalesce > 0 && items.length > 1) {
            broker.report(conn, {
              fault: "network.coalesce",
              detail: `${items.length} packets gathered into one write`
            })
          }
          const chunks: Array<Uint8Array> = []
          const sent: Array<Packet.Packet> = []
          const encode = (packet: Packet.Packet) => {
            const encoded = Encoder.encode(packet, conn.level, { maxPacketSize: conn.clientMaximumPacketSize })
            if (encoded._tag === "Failure") return notSent(conn, packet, encoded.failure)
            chunks.push(encoded.success)
            sent.push(packet)
            conn.counters.bytesOut += encoded.success.length
          }
          let close = false
          for (const item of items) {
            // Packets a reorder fault still holds go out before the connection ends: none is lost.
            if ((item === CLOSE || item._tag === "Disconnect") && !conn.blackholed) {
              for (const held of Impairments.releaseHeld(conn)) encode(held)
            }
            if (item === CLOSE) {
              close = true
              break
            }
            // A blackholed connection writes nothing more.
            if (conn.blackholed) continue
            if (item._tag === "Released") {
              encode(item.packet)
              continue
            }
            for (const packet of Impairments.applyPacketFaults(
              broker,
              conn,
              prepare(conn, item, config.assignTopicAliases)
            )) {
              encode(packet)
            }
          }
          if (chunks.length > 0) {
            // What a client gets an acknowledgement for is in the dump before the acknowledgement leaves.
            if (sent.some(acknowledges)) yield* deps.dumped
            yield* Impairments.writeImpaired(broker, conn, writer, chunks as [Uint8Array, ...Array<Uint8Array>])
            lastWrite = liveClock.currentTimeMillisUnsafe()
          }
          // The socket took the batch: the outbox has room again, and a stopped reader may read on.
          conn.unwritten -= items.filter((item) => item !== CLOSE).length
          conn.lastProgress = liveClock.currentTimeMillisUnsafe()
          if (conn.unwritten < config.maxOutbox) room.openUnsafe()
          if (conn.unwritten < readPauseAt) readable.openUnsafe()
          Routing.caughtUp(broker, conn)
          for (const packet of sent) {
            conn.counters.packetsOut++
            emit({
              _tag: "PacketSent",
              connection: conn.id,
              ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
              packet
            })
            // A configured blackhole counts from the CONNACK the client got.
            if (packet._tag === "Connack" && packet.reasonCode === 0) Decisions.armBlackhole(broker, conn)
          }
          if (close) {
            // RST instead of FIN, when the test asks for it: after a grace period from the last write
            // (real time), so the client has read what came before and sees the reset itself.
            if (conn.policy.behavior.network?.close === "rst") {
              const wait = lastWrite + RST_GRACE_MS - liveClock.currentTimeMillisUnsafe()
              if (wait > 0)
                yield* Effect.sleep(Duration.millis(wait)).pipe(Effect.provideService(Clock.Clock, liveClock))
              broker.report(conn, { fault: "network.close", detail: "connection closed with a TCP RST" })
              link.reset()
            }
            return
          }
        }
      }).pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause) || !Cause.hasDies(cause)
            ? Effect.failCause(cause)
            : Effect.sync(() => {
                // The writer is gone: report, then close the socket without writing more.
                internalError(conn, cause)
                net.destroy()
              })
        ),
        Effect.ensuring(Deferred.succeed(closed, undefined))
      )
      fork(writeLoop)

      conn.io.timer(
        "connectTimeout",
        Effect.sleep(Duration.millis(config.connectTimeout)).pipe(
          Effect.andThen(
            Effect.sync(() => {
              if (!conn.connectReceived) broker.close(conn, "ConnectTimeout")
            })
          )
        )
      )

      Decisions.startMaxTime(broker, conn)

      const parser = Parser.make({ maxPacketSize: config.maxPacketSize })
      const reader = yield* socket.reader
      const readLoop = Effect.gen(function* () {
        while (conn.closing === undefined) {
          yield* waitForRoom
          if (deps.dumpLagging()) yield* deps.dumped
          const chunks = yield* reader.pull
          let handledInRead = 0
          for (const chunk of chunks) {
            const read = typeof chunk === "string" ? textEncoder.encode(chunk) : chunk
            conn.counters.bytesIn += read.length
            // A blackholed connection reads on (to notice the client leaving) but handles nothing.
            if (conn.blackholed) continue
            const paced = Impairments.readPieces(broker, conn, read)
            for (const bytes of paced.pieces) {
              if (paced.paced) yield* paced.wait(bytes)
              const parsed = parser.push(bytes)
              for (const packet of parsed.packets) {
                if (conn.closing !== undefined) break
                // Each packet may answer: none is handled while the outbox holds twice its bound.
                if (conn.unwritten >= readPauseAt) yield* waitForRoom
                // The last PUBLISH filled a consumer's outbox: wait for it (TCP pushes back on this client).
                if (conn.blockedBy !== undefined) yield* waitForConsumer
                if (conn.closing !== undefined) break
                conn.counters.packetsIn++
                handledInRead++
                conn.lastReceived = now()
                // A CONNECT names its client (an empty id is assigned later, in CONNACK).
                const clientId =
                  conn.clientId ?? (packet._tag === "Connect" && packet.clientId !== "" ? packet.clientId : undefined)
                emit({
                  _tag: "PacketReceived",
                  connection: conn.id,
                  ...(clientId !== undefined ? { clientId } : {}),
                  packet
                })
                if (conn.stopHandling) continue
                dispatch(broker, conn, packet)
                Decisions.countPacket(broker, conn)
              }
              if (parsed.error !== undefined && !conn.stopHandling) codecViolation(conn, parsed.error)
              if (conn.closing !== undefined) break
            }
            if (conn.closing !== undefined) break
          }
          // Let other connections (a new client's CONNECT) run between two big reads of a flooding
          // client; a client that sends a packet at a time is answered without the extra hop.
          if (handledInRead >= 64) yield* Effect.yieldNow
        }
      })
      const exit = yield* Effect.raceFirst(Effect.exit(readLoop), Effect.as(Deferred.await(closed), Exit.void))
      // A defect while handling a packet is reported, never mistaken for the client going away.
      if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) internalError(conn, exit.cause)
      if (conn.closing === undefined) {
        // The socket ended without anybody asking: the client went away.
        const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
        const socketError = failure?._tag === "Fail" ? (failure.error as Socket.SocketError) : undefined
        ended =
          socketError?.reason._tag === "SocketCloseError" && socketError.reason.code === 1000
            ? "ClientClosed"
            : "SocketError"
      } else {
        // Let the writer flush what was queued before the close, unless the socket is gone already.
        yield* Effect.raceFirst(
          Deferred.await(closed),
          Effect.callback<void>((resume) => {
            if (net.destroyed) return resume(Effect.void)
            const onClose = () => resume(Effect.void)
            net.once("close", onClose)
            return Effect.sync(() => void net.off("close", onClose))
          })
        )
      }
    }).pipe(
      Effect.scoped,
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : Effect.sync(() => broker.warn(undefined, `internal error in a connection: ${Cause.pretty(cause)}`))
      )
    )
}
