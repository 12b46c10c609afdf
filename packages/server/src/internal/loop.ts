/**
 * One connection's life: its state, its two pipelines (inbound: socket →
 * parser → handlers, see inbound.ts; outbound: outbox → faults → encoder →
 * socket, see outbound.ts), and its timers (connect timeout, keep alive, max
 * time, blackhole, resends: one FiberMap), all in one scope that closes with
 * the connection.
 */

import type { Policy } from "@mqttest/behavior"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberMap from "effect/FiberMap"
import * as FiberSet from "effect/FiberSet"
import type * as Socket from "effect/socket/Socket"
import type { CloseReason } from "../ServerEvent.js"
import type { Broker, EventInput } from "./broker.js"
import { Connection } from "./connection.js"
import * as Decisions from "./decisions.js"
import * as Auth from "./handlers/auth.js"
import * as Inbound from "./inbound.js"
import * as Outbound from "./outbound.js"
import { Outbox } from "./outbox.js"
import * as Transport from "./transport.js"
import { Wire } from "./wire.js"

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

/** A handler for accepted links, each with the connection number its listener reserved for it. */
export const makeHandler = (deps: LoopDeps): ((link: Transport.Link, id: number) => Effect.Effect<void>) => {
  const { broker, now, emit } = deps
  const config = broker.config

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

  return (link: Transport.Link, id: number): Effect.Effect<void> =>
    Effect.gen(function* () {
      const net = link.duplex
      const wire = new Wire(net)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          wire.detach()
          Transport.endSoon(net)
        })
      )
      // The policies keep it near maxOutbox (PUBLISHes wait or meet `slowConsumer`, the client is not read
      // while 2 × maxOutbox are queued: see routing.ts and inbound.ts); its capacity is a backstop.
      const outbox = yield* Outbox.make(config.maxOutbox)
      const fork = yield* FiberSet.makeRuntime<never>()
      const runTimer = yield* FiberMap.makeRuntime<never, string>()
      /** A defect in a connection's work is reported, and closes the connection. */
      const reported = (effect: Effect.Effect<unknown, unknown>) =>
        Effect.catchCause(effect, (cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => internalError(conn, cause))
        )
      const conn = new Connection(
        id,
        link.remoteAddress,
        link.remotePort,
        {
          write: (item) => {
            if (outbox.offer(item) || conn.closing !== undefined) return
            // Past the backstop the connection goes, not the server's memory.
            broker.warn(conn, `outbox over ${outbox.capacity} packets: connection closed`)
            broker.abort(conn, "SlowConsumer")
          },
          fork: (effect) => void fork(reported(effect)),
          timer: (key, effect) => void runTimer(key, reported(effect)),
          // Replacing a key interrupts the fiber under it; an empty effect then leaves the key free.
          cancelTimer: (key) => void runTimer(key, Effect.void),
          destroy: () => void net.destroy(),
          reset: link.reset
        },
        outbox,
        deps.policy.connection(id),
        now()
      )
      broker.accept(conn)
      emit({
        _tag: "ConnectionOpened",
        connection: conn.id,
        remoteAddress: conn.remoteAddress,
        remotePort: conn.remotePort,
        ...(link.transport !== "tcp" ? { transport: link.transport } : {}),
        ...(link.clientCertificate !== undefined ? { clientCertificate: link.clientCertificate } : {})
      })
      let endedBy: CloseReason | undefined
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          broker.finalize(conn, conn.closing ?? endedBy ?? "ServerStopped")
          deps.onClosed()
        })
      )
      if (!deps.accepting()) broker.close(conn, "ServerStopped")

      const closed = yield* Deferred.make<void>()
      const outbound = Outbound.run({
        broker,
        conn,
        emit,
        writer: wire,
        dumped: deps.dumped,
        reset: link.reset
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
      fork(outbound)

      conn.io.timer(
        "connectTimeout",
        Effect.sleep(Duration.millis(config.connectTimeout)).pipe(
          Effect.andThen(
            Effect.sync(() => {
              // No CONNECT yet, or an authentication exchange still short of its CONNACK (unless a test blackholed it).
              if (!conn.connectReceived || (Auth.beforeConnack(conn) && !conn.blackholed)) {
                broker.close(conn, "ConnectTimeout")
              }
            })
          )
        )
      )
      Decisions.startMaxTime(broker, conn)

      const inbound = Inbound.run({
        broker,
        conn,
        now,
        emit,
        dumped: deps.dumped,
        dumpLagging: deps.dumpLagging,
        pull: wire.pull
      })
      const exit = yield* Effect.raceFirst(Effect.exit(inbound), Effect.as(Deferred.await(closed), Exit.void))
      // A defect while handling a packet is reported, never mistaken for the client going away.
      if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) internalError(conn, exit.cause)
      if (conn.closing === undefined) {
        // The socket ended without anybody asking: the client went away.
        const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
        const socketError = failure?._tag === "Fail" ? (failure.error as Socket.SocketError) : undefined
        endedBy =
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
