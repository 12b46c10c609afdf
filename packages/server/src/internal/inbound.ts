/**
 * The inbound half of a connection, as a Stream pipeline: socket bytes (read
 * only while the connection may take more) → read impairments (Policy) →
 * `Parser.decodeStream` → packet handlers. Backpressure is the pipeline's
 * own: while a stage waits, nothing more is pulled from the socket, so TCP
 * pushes back on the client.
 */
import { CodecError, type Packet, Parser } from "@mqttest/codec"
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Socket from "effect/socket/Socket"
import type { Broker, EventInput } from "./broker.js"
import type { Connection } from "./connection.js"
import * as Decisions from "./decisions.js"
import { dispatch } from "./handlers/index.js"
import * as Impairments from "./impairments.js"

export interface InboundDeps {
  readonly broker: Broker
  readonly conn: Connection
  readonly now: () => number
  readonly emit: (event: EventInput) => void
  /** Completes once the dump has every event so far (immediate without dumps). */
  readonly dumped: Effect.Effect<void>
  /** The dump is far behind: read no more until it has caught up. */
  readonly dumpLagging: () => boolean
  /** The socket's reads. */
  readonly pull: Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array | string>, Socket.SocketError>
}

const textEncoder = new TextEncoder()

/** Let other connections run between two big reads of a flooding client. */
const FAIRNESS = 64

/**
 * Runs the inbound pipeline until the socket ends (failing with its error)
 * or the connection is closing. A malformed packet is a protocol violation.
 */
export const run = (deps: InboundDeps): Effect.Effect<void, Socket.SocketError> => {
  const { broker, conn, emit, now } = deps
  const config = broker.config
  /** A client that sends faster than it reads is not read on while its outbox holds twice the bound. */
  const waitForRoom = Effect.suspend(() =>
    conn.outbox.untilReadable(() =>
      broker.warn(
        conn,
        `client ${conn.clientId ?? `on connection ${conn.id}`} does not read what it is sent: not read until its outbox drains (${conn.outbox.size} packets)`
      )
    )
  )

  // ------------------------------------------------------------- socket bytes
  /** Pieces of a paced read (`network.readBandwidth`) not handed on yet, with their wait. */
  let paced: Array<Uint8Array> = []
  let pacedWait: (piece: Uint8Array) => Effect.Effect<void> = () => Effect.void
  const nextPaced = Effect.suspend(() => {
    const piece = paced.shift()!
    return Effect.as(pacedWait(piece), [piece] as const)
  })
  let firstRead = true
  /** The next bytes to parse: read only while the outbox and the dump have room. */
  const bytes: Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError | Cause.Done> = Effect.gen(
    function* () {
      if (paced.length > 0) return yield* nextPaced
      while (true) {
        // A closing connection reads no more: the pipeline ends.
        if (conn.closing !== undefined) return yield* Cause.done()
        yield* waitForRoom
        if (deps.dumpLagging()) yield* deps.dumped
        const chunks = yield* deps.pull
        const read: Array<Uint8Array> = []
        for (const chunk of chunks) {
          const bytes = typeof chunk === "string" ? textEncoder.encode(chunk) : chunk
          conn.countIn(bytes.length)
          read.push(bytes)
        }
        // A blackholed connection reads on (to notice the client leaving) but handles nothing.
        if (conn.blackholed) continue
        if (firstRead) {
          firstRead = false
          const other = otherProtocol(read[0]!)
          if (other !== undefined) {
            broker.warn(conn, `${other}: connection closed`)
            broker.close(conn, "ProtocolViolation")
            return yield* Cause.done()
          }
        }
        const pieces: Array<Uint8Array> = []
        for (const chunk of read) {
          const plan = Impairments.readPieces(broker, conn, chunk)
          if (!plan.paced) pieces.push(chunk)
          else {
            pieces.push(...plan.pieces)
            pacedWait = plan.wait
          }
        }
        if (pieces.length === read.length && pieces.every((piece, i) => piece === read[i])) {
          return read as unknown as Arr.NonEmptyReadonlyArray<Uint8Array>
        }
        paced = pieces
        if (paced.length > 0) return yield* nextPaced
      }
    }
  )

  // ------------------------------------------------------------------ packets
  /** Handles a batch of parsed packets, in order. */
  const handle = Effect.fnUntraced(function* (packets: Arr.NonEmptyReadonlyArray<Packet.Packet>) {
    let handled = 0
    for (const packet of packets) {
      if (conn.closing !== undefined || conn.blackholed) return
      // Each packet may answer: none is handled while the outbox holds twice its bound.
      if (conn.outbox.overReadLimit) yield* waitForRoom
      // The last PUBLISH filled a consumer's outbox: wait for it (TCP pushes back on this client).
      if (conn.outbox.blocked) yield* conn.outbox.untilConsumerHasRoom
      // The dump is far behind: one read can hold thousands of packets, so this is checked per packet.
      if (deps.dumpLagging()) yield* deps.dumped
      if (conn.closing !== undefined) return
      conn.countPacketIn()
      handled++
      conn.heardAt(now())
      // A CONNECT names its client (an empty id is assigned later, in CONNACK).
      const clientId =
        conn.clientId ?? (packet._tag === "Connect" && packet.clientId !== "" ? packet.clientId : undefined)
      emit({ _tag: "PacketReceived", connection: conn.id, ...(clientId !== undefined ? { clientId } : {}), packet })
      if (conn.stopHandling) continue
      dispatch(broker, conn, packet)
      Decisions.countPacket(broker, conn)
    }
    // A client that sends a packet at a time is answered without the extra hop.
    if (handled >= FAIRNESS) yield* Effect.yieldNow
  })

  return Stream.fromPull(Effect.succeed(bytes)).pipe(
    Parser.decodeStream({ maxPacketSize: config.maxPacketSize }),
    Stream.runForEachArray(handle),
    Effect.catchIf(
      (error): error is CodecError.CodecError => error instanceof CodecError.CodecError,
      (error) =>
        conn.stopHandling
          ? // After `maxPackets` nothing is handled any more, bad bytes included: read on, to notice the client leaving.
            Effect.forever(deps.pull)
          : Effect.sync(() => violation(broker, conn, error))
    )
  )
}

const httpMethods = ["GET ", "POST", "PUT ", "HEAD", "OPTI", "DELE", "PATC", "CONN"]

/**
 * Another protocol than MQTT in a connection's first bytes, said in words: a
 * TLS handshake (an `mqtts://` client on a plain port), or HTTP (a WebSocket
 * or web client on an MQTT port). An MQTT CONNECT starts with 0x10.
 */
export const otherProtocol = (first: Uint8Array): string | undefined => {
  if (first.length >= 2 && first[0] === 0x16 && first[1] === 0x03) {
    return "the client speaks TLS on a plain MQTT port (an mqtts:// client needs the TLS listener)"
  }
  const start = String.fromCharCode(...first.subarray(0, 4))
  if (httpMethods.includes(start)) {
    return "the client speaks HTTP on an MQTT port (a WebSocket client needs a ws:// listener)"
  }
  return undefined
}

/** A malformed packet: a protocol violation (MQTT 3.1.1 clients of an unsupported level get CONNACK 0x01 first). */
const violation = (broker: Broker, conn: Connection, error: CodecError.CodecError): void => {
  if (error.reason._tag === "UnsupportedProtocolLevel") {
    // CONNACK 0x01 in the 3.1.1 layout, which any client can read [MQTT-3.1.2-2].
    conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: 1 })
  }
  broker.violation(conn, error.message, error.reason.spec, error.disconnectReasonCode)
}
