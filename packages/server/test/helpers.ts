/**
 * Test clients: MQTT.js (a client nobody here wrote) and a raw socket client
 * that speaks through the codec, for what MQTT.js would never send.
 */

import * as Net from "node:net"
import type { Duplex } from "node:stream"
import { Encoder, type Packet, Parser } from "@mqttest/codec"
import { type MqttServer, ServerEvent } from "@mqttest/server"
import { Cause, Effect, Queue, Result, type Scope, Stream } from "effect"
import mqtt from "mqtt"

export type Server = MqttServer.MqttServer["Service"]

/** A message as an MQTT.js client received it. */
export interface Received {
  readonly topic: string
  readonly payload: string
  readonly packet: mqtt.IPublishPacket
}

const inboxes = new WeakMap<mqtt.MqttClient, Queue.Queue<Received>>()

/**
 * An MQTT.js client connected to the server, ended with the scope. Every
 * message it receives is buffered from the start (see `messages`), so none
 * is missed between CONNACK and the test's first look.
 */
export const connectClient = (
  server: Server,
  options: mqtt.IClientOptions = {}
): Effect.Effect<mqtt.MqttClient, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const inbox = yield* Queue.unbounded<Received>()
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = connectMqttJs(server, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
        client.on("message", (topic, payload, packet) =>
          Queue.offerUnsafe(inbox, { topic, payload: payload.toString(), packet })
        )
        inboxes.set(client, inbox)
        return client
      }),
      (client) => Effect.promise(() => client.endAsync(true))
    )
    yield* Effect.callback<void, Error>((resume) => {
      if (client.connected) return resume(Effect.void)
      client.once("connect", () => resume(Effect.void))
      client.once("error", (error) => resume(Effect.fail(error)))
      client.once("close", () => resume(Effect.fail(new Error("closed before CONNACK"))))
    })
    return client
  })

/**
 * An MQTT.js client of the server, over whatever transport it uses (a TCP URL, or the in-memory
 * server's `connectStream` as MQTT.js's stream builder).
 */
export const connectMqttJs = (server: Server, options: mqtt.IClientOptions): mqtt.MqttClient =>
  server.transport === "memory"
    ? new mqtt.MqttClient(() => server.connectStream() as never, { protocolVersion: 4, ...options })
    : mqtt.connect(server.url, options)

/** Completes when an MQTT.js client's socket has closed (create it before causing the close). */
export const socketClosed = (client: mqtt.MqttClient): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    client.stream.once("close", () => resume(Effect.void))
  })

/** Runs an MQTT.js call that takes a callback. */
export const call = <A>(f: (callback: (error?: Error | null, value?: A) => void) => void): Effect.Effect<A, Error> =>
  Effect.callback<A, Error>((resume) => {
    f((error, value) => resume(error ? Effect.fail(error) : Effect.succeed(value as A)))
  })

/** The messages an MQTT.js client (from `connectClient`) has received, as a queue. */
export const messages = (client: mqtt.MqttClient): Effect.Effect<Queue.Queue<Received>> =>
  Effect.sync(() => inboxes.get(client)!)

export interface RawClient {
  readonly socket: Duplex
  readonly send: (packet: Packet.Packet) => Effect.Effect<void>
  readonly sendBytes: (bytes: Uint8Array) => Effect.Effect<void>
  /** The next packet from the server; fails when the socket closed first. */
  readonly next: Effect.Effect<Packet.Packet, Error>
  /** Waits until the server closed the socket. */
  readonly closed: Effect.Effect<void>
}

/** A TCP client that writes packets through the codec at `level` and parses the server's replies. */
export const rawClient = (
  server: Server,
  level: Packet.ProtocolLevel = 4
): Effect.Effect<RawClient, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const incoming = yield* Queue.unbounded<Packet.Packet, Error>()
    const parser = Parser.make({ protocolLevel: level })
    let closedResolve: (() => void) | undefined
    const closedPromise = new Promise<void>((resolve) => {
      closedResolve = resolve
    })
    const socket = yield* Effect.acquireRelease(
      Effect.callback<Duplex, Error>((resume) => {
        const s = server.connectStream()
        // A TCP socket says when it is connected; an in-memory stream is connected at once.
        if (!(s instanceof Net.Socket) || !s.connecting) return resume(Effect.succeed(s))
        s.once("connect", () => resume(Effect.succeed(s)))
        s.once("error", (error) => resume(Effect.fail(error)))
      }),
      (s) => Effect.sync(() => s.destroy())
    )
    socket.on("data", (chunk: Buffer) => {
      const parsed = parser.push(new Uint8Array(chunk))
      for (const packet of parsed.packets) Queue.offerUnsafe(incoming, packet)
      if (parsed.error) Queue.failCauseUnsafe(incoming, Cause.fail(new Error(parsed.error.message)))
    })
    socket.on("error", () => {})
    socket.on("close", () => {
      Queue.failCauseUnsafe(incoming, Cause.fail(new Error("socket closed")))
      closedResolve?.()
    })
    const sendBytes = (bytes: Uint8Array) =>
      Effect.callback<void>((resume) => {
        socket.write(bytes, () => resume(Effect.void))
      })
    return {
      socket,
      sendBytes,
      send: (packet) => sendBytes(Result.getOrThrow(Encoder.encode(packet, level))),
      next: Queue.take(incoming),
      closed: Effect.promise(() => closedPromise)
    }
  })

/** A QoS 1 PUBLISH of "x" on `topic`, for raw clients. */
export const publishQoS1 = (packetId: number, topic = "t"): Packet.Publish => ({
  _tag: "Publish",
  topic,
  payload: new TextEncoder().encode("x"),
  qos: 1,
  packetId,
  retain: false,
  dup: false
})

/** CONNECT with sensible defaults. */
export const connectPacket = (overrides: Partial<Packet.Connect> = {}): Packet.Connect => ({
  _tag: "Connect",
  protocolLevel: 4,
  clean: true,
  keepAlive: 0,
  clientId: "raw",
  ...overrides
})

/** Waits for the connection of a client id to close, returning the event. */
export const closedEvent = (server: Server, predicate: (e: ServerEvent.Of<"ConnectionClosed">) => boolean) =>
  server.waitFor(ServerEvent.is("ConnectionClosed", predicate))

/** Collects the first `n` events that match. */
export const collect = <E extends ServerEvent.ServerEvent>(
  server: Server,
  predicate: (e: ServerEvent.ServerEvent) => e is E,
  n: number
) => server.events.pipe(Stream.filter(predicate), Stream.take(n), Stream.runCollect)

export const text = (s: string) => new TextEncoder().encode(s)

/** A raw MQTT 5 client after its CONNECT was answered; returns the client and the CONNACK. */
export const connect5 = (
  server: Server,
  overrides: Partial<Packet.Connect> = {}
): Effect.Effect<readonly [RawClient, Packet.Connack], Error, Scope.Scope> =>
  Effect.gen(function* () {
    const raw = yield* rawClient(server, 5)
    yield* raw.send(connectPacket({ protocolLevel: 5, ...overrides }))
    const connack = yield* raw.next
    if (connack._tag !== "Connack") return yield* Effect.fail(new Error(`expected CONNACK, got ${connack._tag}`))
    return [raw, connack] as const
  })

/** Subscribes a raw client and returns the SUBACK. */
export const subscribeRaw = (
  raw: RawClient,
  subscriptions: Packet.Subscribe["subscriptions"],
  properties?: Packet.SubscribeProperties
) =>
  Effect.gen(function* () {
    yield* raw.send({ _tag: "Subscribe", packetId: 1, subscriptions, ...(properties ? { properties } : {}) })
    const suback = yield* raw.next
    if (suback._tag !== "Suback") return yield* Effect.fail(new Error(`expected SUBACK, got ${suback._tag}`))
    return suback
  })

/** An MQTT.js client at a URL (any transport: mqtts://, ws://, mqtt+unix://, …), ended with the scope. */
export const connectAt = (
  url: string,
  options: mqtt.IClientOptions
): Effect.Effect<mqtt.MqttClient, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<mqtt.MqttClient, Error>((resume) => {
      const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
      client.once("connect", () => resume(Effect.succeed(client)))
      client.once("error", (error) => {
        client.end(true)
        resume(Effect.fail(error))
      })
    }),
    (client) => Effect.promise(() => client.endAsync(true))
  )
