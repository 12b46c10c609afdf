/**
 * Carrying out the Policy's decisions (see @mqttest/behavior's Policy): the
 * places where the server departs from a plain broker because the test asked
 * it to — a delayed acknowledgement or CONNACK, a refusal, a connection
 * closed after N packets or T ms, a blackhole. The Policy decides and says
 * what to report; this module acts, on the connection's timers, and reports
 * each as a FaultInjected event.
 */
import type { Policy } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Broker } from "./broker.js"
import type { Connection } from "./connection.js"

/** Sends an acknowledgement now, or after the policy's ack delay for its type. */
export const sendAck = (
  broker: Broker,
  conn: Connection,
  packet: Extract<Packet.Packet, { _tag: Policy.AckTag }>
): void => {
  // Without an ack delay for its type, at once (no fiber: this runs for every acknowledgement).
  const next = conn.policy.ackDelay(packet._tag)
  if (next === undefined) return conn.send(packet)
  conn.io.fork(
    Effect.flatMap(next, (delayed) => {
      if (delayed === undefined) return Effect.sync(() => conn.send(packet))
      broker.report(conn, delayed.injected)
      return Effect.sleep(delayed.duration).pipe(Effect.andThen(Effect.sync(() => conn.send(packet))))
    })
  )
}

/** Holds everything behind the CONNACK for the policy's CONNACK delay, if any. */
export const holdForConnack = (broker: Broker, conn: Connection): void => {
  if (conn.policy.behavior.connackDelay === undefined) return
  conn.hold()
  // The client's keep alive runs from the CONNACK it gets.
  const release = Effect.sync(() => conn.release(broker.deps.now()))
  conn.io.timer(
    "connack",
    Effect.flatMap(conn.policy.connackDelay, (delayed) => {
      if (delayed === undefined) return release
      broker.report(conn, delayed.injected)
      return Effect.sleep(delayed.duration).pipe(Effect.andThen(release))
    })
  )
}

/** Counts a handled packet; after `maxPackets` the connection closes (after `maxPacketsDelay`), without DISCONNECT. */
export const countPacket = (broker: Broker, conn: Connection): void => {
  if (conn.stopHandling || conn.closing !== undefined) return
  const decision = conn.policy.countPacket(conn.counters.packetsIn)
  if (decision === undefined) return
  conn.stopHandlingPackets()
  broker.report(conn, decision.injected)
  conn.io.timer(
    "maxPackets",
    Effect.sleep(Duration.millis(decision.closeAfter)).pipe(
      Effect.andThen(Effect.sync(() => broker.close(conn, "MaxPackets")))
    )
  )
}

/**
 * Starts (or, once rules apply after CONNECT, restarts) the `maxTime` timer,
 * counted from when the connection was accepted.
 */
export const startMaxTime = (broker: Broker, conn: Connection): void => {
  const maxTime = conn.policy.behavior.maxTime
  if (maxTime === undefined) return conn.io.cancelTimer("maxTime")
  const remaining = Math.max(0, conn.acceptedAt + maxTime - broker.deps.now())
  conn.io.timer(
    "maxTime",
    Effect.sleep(Duration.millis(remaining)).pipe(
      Effect.andThen(
        Effect.sync(() => {
          if (conn.closing !== undefined) return
          broker.report(conn, { fault: "maxTime", detail: `closing after ${maxTime} ms` })
          broker.close(conn, "MaxTime")
        })
      )
    )
  )
}

/** The reason code refusing an operation on `topic` (a topic name or filter), or undefined when it is allowed. */
export const refusal = (
  broker: Broker,
  conn: Connection,
  kind: "refuseSubscribe" | "refusePublish" | "refuseUnsubscribe",
  topic: string
): number | undefined => {
  const refused = conn.policy.refuse(kind, topic)
  if (refused === undefined) return undefined
  broker.report(conn, refused.injected)
  return refused.reasonCode
}

/** Stops reading and writing a connection, keeping its socket open (the `blackhole` behaviour and command). */
export const blackhole = (broker: Broker, conn: Connection): void => {
  if (conn.closing !== undefined || !conn.blackhole()) return
  broker.report(conn, { fault: "blackhole", detail: "no more reading or writing; the socket stays open" })
}

/** The `blackhole` behaviour: this long after the CONNACK was written, blackhole the connection. */
export const armBlackhole = (broker: Broker, conn: Connection): void => {
  const configured = conn.policy.behavior.blackhole
  if (configured === undefined) return
  conn.io.timer(
    "blackhole",
    Effect.sleep(Duration.millis(configured.after)).pipe(Effect.andThen(Effect.sync(() => blackhole(broker, conn))))
  )
}
