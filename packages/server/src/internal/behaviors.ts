/**
 * Applying a connection's behaviour (see @mqttest/behavior): the places
 * where the server deliberately departs from a plain broker, each reported
 * as a FaultInjected event.
 */
import { Behavior } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import { Topic } from "@mqttest/session"
import { Duration, Effect } from "effect"
import type { Broker } from "./broker.js"
import type { Connection } from "./connection.js"

type AckTag = "Puback" | "Pubrec" | "Pubcomp" | "Suback" | "Unsuback"

const ackKey: Record<AckTag, "puback" | "pubrec" | "pubcomp" | "suback" | "unsuback"> = {
  Puback: "puback",
  Pubrec: "pubrec",
  Pubcomp: "pubcomp",
  Suback: "suback",
  Unsuback: "unsuback"
}

const isPerType = (delay: Behavior.AckDelay): delay is Exclude<Behavior.AckDelay, Behavior.Behavior["connackDelay"]> =>
  typeof delay === "object" &&
  delay !== null &&
  ["puback", "pubrec", "pubcomp", "suback", "unsuback"].some((key) => key in delay)

/** Sends an acknowledgement now, or after the behaviour's ack delay for its type. */
export const sendAck = (broker: Broker, conn: Connection, packet: Extract<Packet.Packet, { _tag: AckTag }>): void => {
  const configured = broker.behavior(conn).ackDelay
  const delay =
    configured === undefined ? undefined : isPerType(configured) ? configured[ackKey[packet._tag]] : configured
  if (delay === undefined) return conn.send(packet)
  const stepper = broker.stepper(conn, `ack/${packet._tag}`, delay)
  conn.io.fork(
    Effect.flatMap(stepper.next, (duration) => {
      if (duration === undefined) return Effect.sync(() => conn.send(packet))
      broker.fault(conn, "ackDelay", `${packet._tag.toUpperCase()} delayed by ${Duration.toMillis(duration)} ms`)
      return Effect.sleep(duration).pipe(Effect.andThen(Effect.sync(() => conn.send(packet))))
    })
  )
}

/** Holds everything behind the CONNACK for the behaviour's CONNACK delay, if any. */
export const holdForConnack = (broker: Broker, conn: Connection): void => {
  const delay = broker.behavior(conn).connackDelay
  if (delay === undefined) return
  conn.held = []
  const stepper = broker.stepper(conn, "connack", delay)
  // The client's keep alive runs from the CONNACK it gets.
  const release = Effect.sync(() => {
    conn.lastReceived = Math.max(conn.lastReceived, broker.deps.now())
    conn.release()
  })
  conn.io.timer(
    "connack",
    Effect.flatMap(stepper.next, (duration) => {
      if (duration === undefined) return release
      broker.fault(conn, "connackDelay", `CONNACK delayed by ${Duration.toMillis(duration)} ms`)
      return Effect.sleep(duration).pipe(Effect.andThen(release))
    })
  )
}

/** Counts a handled packet; after `maxPackets` the connection closes (after `maxPacketsDelay`), without DISCONNECT. */
export const countPacket = (broker: Broker, conn: Connection): void => {
  const behavior = broker.behavior(conn)
  if (behavior.maxPackets === undefined || conn.stopHandling || conn.closing !== undefined) return
  if (conn.counters.packetsIn < behavior.maxPackets) return
  conn.stopHandling = true
  const wait = behavior.maxPacketsDelay ?? 0
  broker.fault(conn, "maxPackets", `closing after ${behavior.maxPackets} packets${wait > 0 ? ` and ${wait} ms` : ""}`)
  conn.io.timer(
    "maxPackets",
    Effect.sleep(Duration.millis(wait)).pipe(Effect.andThen(Effect.sync(() => broker.close(conn, "MaxPackets"))))
  )
}

/**
 * Starts (or, once rules apply after CONNECT, restarts) the `maxTime` timer,
 * counted from when the connection was accepted.
 */
export const startMaxTime = (broker: Broker, conn: Connection): void => {
  const maxTime = broker.behavior(conn).maxTime
  if (maxTime === undefined) return conn.io.cancelTimer("maxTime")
  const remaining = Math.max(0, conn.acceptedAt + maxTime - broker.deps.now())
  conn.io.timer(
    "maxTime",
    Effect.sleep(Duration.millis(remaining)).pipe(
      Effect.andThen(
        Effect.sync(() => {
          if (conn.closing !== undefined) return
          broker.fault(conn, "maxTime", `closing after ${maxTime} ms`)
          broker.close(conn, "MaxTime")
        })
      )
    )
  )
}

/**
 * The CONNACK code refusing a client by its id prefix or credentials, or
 * undefined when the client is accepted.
 */
export const refusedConnect = (
  broker: Broker,
  conn: Connection,
  packet: Packet.Connect,
  clientId: string
): number | undefined => {
  const behavior = broker.behavior(conn)
  const level = packet.protocolLevel
  const prefix = behavior.clientIdPrefix
  if (prefix !== undefined && !clientId.startsWith(prefix.prefix)) {
    const code = Behavior.connackCode(prefix.reasonCode, level, {
      mqtt3: ReasonCode.V3Connack.IdentifierRejected,
      mqtt5: ReasonCode.V5.ClientIdentifierNotValid
    })
    broker.fault(
      conn,
      "clientIdPrefix",
      `client id ${JSON.stringify(clientId)} lacks prefix ${JSON.stringify(prefix.prefix)}`
    )
    return code
  }
  const credentials = behavior.credentials
  if (credentials !== undefined) {
    const expected = credentials.password === undefined ? undefined : Behavior.passwordBytes(credentials.password)
    const passwordOk =
      expected === undefined ||
      (packet.password !== undefined &&
        packet.password.length === expected.length &&
        packet.password.every((byte, i) => byte === expected[i]))
    if (packet.username !== credentials.username || !passwordOk) {
      const code = Behavior.connackCode(credentials.reasonCode, level, {
        mqtt3: ReasonCode.V3Connack.BadUserNameOrPassword,
        mqtt5: ReasonCode.V5.BadUserNameOrPassword
      })
      broker.fault(conn, "credentials", `user ${JSON.stringify(packet.username ?? "")} refused`)
      return code
    }
  }
  return undefined
}

/**
 * The reason code refusing an operation on `topic` (a topic name or filter),
 * or undefined when it is allowed.
 */
export const refusal = (
  broker: Broker,
  conn: Connection,
  kind: "refuseSubscribe" | "refusePublish" | "refuseUnsubscribe",
  topic: string
): number | undefined => {
  const rule = broker.behavior(conn)[kind]
  if (rule === undefined || !rule.topics.some((pattern) => Topic.matches(pattern, topic))) return undefined
  broker.fault(conn, kind, `${JSON.stringify(topic)} refused`)
  return rule.reasonCode ?? ReasonCode.V5.NotAuthorized
}

/** The `blackhole` behaviour: this long after the CONNACK was written, stop reading and writing the connection. */
export const armBlackhole = (broker: Broker, conn: Connection): void => {
  const blackhole = broker.behavior(conn).blackhole
  if (blackhole === undefined) return
  conn.io.timer(
    "blackhole",
    Effect.sleep(Duration.millis(blackhole.after)).pipe(
      Effect.andThen(
        Effect.sync(() => {
          if (conn.closing !== undefined || conn.blackholed) return
          conn.blackholed = true
          broker.fault(conn, "blackhole", "no more reading or writing; the socket stays open")
        })
      )
    )
  )
}
