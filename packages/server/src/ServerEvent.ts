/**
 * Everything the server observes or does, as typed events: what tests
 * assert on, what the dump and the CLI write.
 *
 * Every event has a `timestamp` (milliseconds since the epoch, read from
 * Effect's Clock, so TestClock drives it) and, where one is involved, the
 * `connection` id: 0 for the first accepted connection, then 1, 2, …
 *
 * @since 0.1.0
 */
import { Packet } from "@mqttest/codec"
import * as Schema from "effect/Schema"

const timestamp = Schema.Number
const connection = Schema.Int
const clientId = Schema.optionalKey(Schema.String)

/**
 * Packet and byte counters.
 * @since 0.1.0
 */
export const Counters = Schema.Struct({
  packetsIn: Schema.Int,
  packetsOut: Schema.Int,
  bytesIn: Schema.Int,
  bytesOut: Schema.Int,
  /** Messages for this client that were dropped: QoS 0 to a full outbox, or the oldest of a full session queue. */
  messagesDropped: Schema.Int
})
/** @since 0.1.0 */
export type Counters = typeof Counters.Type

/**
 * Counters of one connection.
 * @since 0.1.0
 */
export const ConnectionStats = Schema.Struct({
  connection,
  clientId,
  open: Schema.Boolean,
  ...Counters.fields,
  /** Packets queued for this client that its socket has not taken yet (at most about `maxOutbox`). */
  outbox: Schema.Int
})
/** @since 0.1.0 */
export type ConnectionStats = typeof ConnectionStats.Type

/**
 * Statistics of a server run.
 * @since 0.1.0
 */
export const Stats = Schema.Struct({
  /** Milliseconds since the server started listening. */
  elapsed: Schema.Number,
  /** Connections accepted so far. */
  connections: Schema.Int,
  /** Connections open now. */
  openConnections: Schema.Int,
  ...Counters.fields,
  perConnection: Schema.Array(ConnectionStats)
})
/** @since 0.1.0 */
export type Stats = typeof Stats.Type

/**
 * Why a connection ended.
 * @since 0.1.0
 */
export const CloseReason = Schema.Literals([
  /** The client sent DISCONNECT. */
  "ClientDisconnect",
  /** The client closed the socket without DISCONNECT. */
  "ClientClosed",
  "SocketError",
  /** Nothing received for 1.5 × the keep alive [MQTT-3.1.2-24]. */
  "KeepAliveTimeout",
  /** No CONNECT within the connect timeout. */
  "ConnectTimeout",
  "ProtocolViolation",
  /** CONNACK refused the client. */
  "ConnectRefused",
  /** Another connection took over the client id. */
  "SessionTakenOver",
  /** The `disconnect` command. */
  "ServerDisconnect",
  /** The `maxPackets` behaviour. */
  "MaxPackets",
  /** The `maxTime` behaviour. */
  "MaxTime",
  /** The server went offline. */
  "Offline",
  /** The client read too slowly: its outbox was full and `slowConsumer` is `"disconnect"`. */
  "SlowConsumer",
  /** A defect in the server's handling of the connection; a `Warning` event carries the cause. */
  "InternalError",
  "ServerStopped"
])
/** @since 0.1.0 */
export type CloseReason = typeof CloseReason.Type

/**
 * The server is listening.
 * @since 0.1.0
 */
export const Listening = Schema.TaggedStruct("Listening", { timestamp, host: Schema.String, port: Schema.Int })

/**
 * A TCP connection was accepted.
 * @since 0.1.0
 */
export const ConnectionOpened = Schema.TaggedStruct("ConnectionOpened", {
  timestamp,
  connection,
  remoteAddress: Schema.String,
  remotePort: Schema.Int,
  /** What carries it (left out for plain TCP). */
  transport: Schema.optionalKey(Schema.Literals(["tls", "ws", "wss", "unix", "memory"])),
  /** The subject of the client's TLS certificate, when it sent one (e.g. `CN=sensor-1`). */
  clientCertificate: Schema.optionalKey(Schema.String)
})

/**
 * A connection ended.
 * @since 0.1.0
 */
export const ConnectionClosed = Schema.TaggedStruct("ConnectionClosed", {
  timestamp,
  connection,
  clientId,
  reason: CloseReason,
  /** Whether the client's will message was published because of this close. */
  willPublished: Schema.Boolean
})

/**
 * A packet was decoded from a client.
 * @since 0.1.0
 */
export const PacketReceived = Schema.TaggedStruct("PacketReceived", {
  timestamp,
  connection,
  clientId,
  packet: Packet.Packet
})

/**
 * A packet was written to a client's socket.
 * @since 0.1.0
 */
export const PacketSent = Schema.TaggedStruct("PacketSent", {
  timestamp,
  connection,
  clientId,
  packet: Packet.Packet
})

/**
 * Something a test should know about that is not an error: a client id the
 * spec only tolerates, a dropped message, a full event buffer.
 * @since 0.1.0
 */
export const Warning = Schema.TaggedStruct("Warning", {
  timestamp,
  connection: Schema.optionalKey(connection),
  clientId,
  message: Schema.String,
  spec: Schema.optionalKey(Schema.String)
})

/**
 * A client broke the protocol; the connection is closed as the spec says.
 * @since 0.1.0
 */
export const ProtocolViolation = Schema.TaggedStruct("ProtocolViolation", {
  timestamp,
  connection,
  clientId,
  message: Schema.String,
  spec: Schema.optionalKey(Schema.String)
})

/**
 * A behaviour of the test changed what the server did: a delayed
 * acknowledgement, a refused client or operation, a connection closed on
 * purpose.
 * @since 0.1.0
 */
export const FaultInjected = Schema.TaggedStruct("FaultInjected", {
  timestamp,
  connection: Schema.optionalKey(connection),
  clientId,
  /** The behaviour option, e.g. "ackDelay", "maxPackets", "refusePublish". */
  fault: Schema.String,
  detail: Schema.String
})

/**
 * One step of an MQTT 5 enhanced authentication exchange, as the server
 * answered it: the method, the step (0 answers the CONNECT's — or the
 * re-authentication's — data), what the server did, and the length of the
 * client's data (the data itself is in the AUTH and CONNECT packets, in
 * dumps and packet events).
 * @since 0.1.0
 */
export const AuthStep = Schema.TaggedStruct("AuthStep", {
  timestamp,
  connection,
  clientId,
  method: Schema.String,
  step: Schema.Int,
  reauthentication: Schema.Boolean,
  /** The client's Authentication Data, in bytes (0 without any). */
  dataLength: Schema.Int,
  /** What the server answered: AUTH 0x18, success (CONNACK 0x00 or AUTH 0x00), or a failure code. */
  answer: Schema.Literals(["continue", "success", "failure"]),
  reasonCode: Schema.optionalKey(Schema.Int)
})

/**
 * The behaviour configuration was changed at runtime.
 * @since 0.1.0
 */
export const BehaviorChanged = Schema.TaggedStruct("BehaviorChanged", {
  timestamp,
  /** The options that were set (or, for a reset, that went back to their start values). */
  options: Schema.Array(Schema.String),
  /** Present (true) when `reset` restored the options the server started with. */
  reset: Schema.optionalKey(Schema.Boolean)
})

/**
 * This reader of the events fell behind and lost `count` events here (the
 * oldest of its bounded queue, `eventBufferSize`); the events before and
 * after it are complete.
 * @since 0.1.0
 */
export const EventsLost = Schema.TaggedStruct("EventsLost", { timestamp, count: Schema.Int })

/**
 * Why the server stopped.
 * @since 0.1.0
 */
export const StopReason = Schema.Literals(["Stopped", "MaxConnect", "MaxRuntime"])
/** @since 0.1.0 */
export type StopReason = typeof StopReason.Type

/**
 * The server stopped; the final statistics.
 * @since 0.1.0
 */
export const ServerStopped = Schema.TaggedStruct("ServerStopped", { timestamp, reason: StopReason, stats: Stats })

/**
 * @since 0.1.0
 */
export const ServerEvent = Schema.Union([
  Listening,
  ConnectionOpened,
  ConnectionClosed,
  PacketReceived,
  PacketSent,
  Warning,
  ProtocolViolation,
  FaultInjected,
  AuthStep,
  BehaviorChanged,
  EventsLost,
  ServerStopped
])
/** @since 0.1.0 */
export type ServerEvent = typeof ServerEvent.Type

/** @since 0.1.0 */
export type ServerEventTag = ServerEvent["_tag"]

/**
 * The events of one tag.
 * @since 0.1.0
 */
export type Of<T extends ServerEventTag> = Extract<ServerEvent, { readonly _tag: T }>

/**
 * A predicate on events of one tag, for `Stream.filter` and `waitFor`.
 * @since 0.1.0
 */
export const is = <T extends ServerEventTag>(tag: T, predicate?: (event: Of<T>) => boolean) =>
  described(
    (event: ServerEvent): event is Of<T> =>
      event._tag === tag && (predicate === undefined || predicate(event as Of<T>)),
    `is(${JSON.stringify(tag)}${predicate === undefined ? "" : ", …"})`
  )

/**
 * What a predicate waits for, as `waitFor`'s timeout error says it: the
 * predicates of this module describe themselves; others by their function name.
 * @since 0.1.0
 */
export const describe = (predicate: (event: ServerEvent) => boolean): string =>
  (predicate as { readonly description?: string }).description ??
  (predicate.name !== "" ? predicate.name : "a custom predicate")

const described = <P extends (event: ServerEvent) => boolean>(predicate: P, description: string): P =>
  Object.assign(predicate, { description })

/**
 * A predicate matching a received or sent packet of one type, optionally on one connection.
 * @since 0.1.0
 */
export const isPacket = <P extends Packet.PacketTag>(
  direction: "PacketReceived" | "PacketSent",
  packetTag: P,
  options?: { readonly connection?: number | undefined; readonly clientId?: string | undefined }
) =>
  described(
    (event: ServerEvent): event is Of<typeof direction> & { readonly packet: Extract<Packet.Packet, { _tag: P }> } =>
      event._tag === direction &&
      event.packet._tag === packetTag &&
      (options?.connection === undefined || event.connection === options.connection) &&
      (options?.clientId === undefined || event.clientId === options.clientId),
    `isPacket(${JSON.stringify(direction)}, ${JSON.stringify(packetTag)}${options === undefined ? "" : `, ${JSON.stringify(options)}`})`
  )
