/**
 * The running server: listener, event hub, and the loop of each connection
 * (socket bytes → parser → handler; outbox → encoder → socket).
 */

import type * as Net from "node:net"
import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"
import { Behavior } from "@mqttest/behavior"
import { type CodecError, Encoder, type Packet, Parser } from "@mqttest/codec"
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Queue,
  Schema,
  type Scope,
  type Stream
} from "effect"
import type * as Socket from "effect/socket/Socket"
import * as Config from "../Config.js"
import { ConnectionNotFound, type ListenError } from "../ListenError.js"
import type { CloseReason, ServerEvent, Stats, StopReason } from "../ServerEvent.js"
import * as Behaviors from "./behaviors.js"
import { Broker, type EventInput } from "./broker.js"
import { CLOSE, Connection, type Outgoing } from "./connection.js"
import * as Dumper from "./dumper.js"
import * as EventHub from "./events.js"
import * as Faults from "./faults.js"
import { dispatch } from "./handlers/index.js"
import { listen } from "./listener.js"
import { prepare } from "./outgoing.js"
import * as Routing from "./routing.js"

/** What `finished` returns. */
export interface Finished {
  readonly stats: Stats
  /** The most recent events (up to the event buffer size), oldest first. */
  readonly events: ReadonlyArray<ServerEvent>
}

/** Options of the `publish` command. */
export interface PublishOptions {
  readonly qos?: Packet.QoS | undefined
  readonly retain?: boolean | undefined
  readonly properties?: Packet.PublishProperties | undefined
}

export interface Engine {
  readonly host: string
  readonly port: number
  readonly events: Stream.Stream<ServerEvent>
  readonly send: (connection: number, packet: Packet.Packet) => Effect.Effect<void, ConnectionNotFound>
  readonly publish: (topic: string, payload: Uint8Array | string, options?: PublishOptions) => Effect.Effect<void>
  readonly disconnect: (connection: number, reasonCode?: number) => Effect.Effect<void, ConnectionNotFound>
  readonly blackhole: (
    target: number | "all",
    options?: { readonly after?: number | undefined }
  ) => Effect.Effect<void, ConnectionNotFound>
  readonly goOffline: (options?: {
    readonly duration?: number | undefined
    readonly reset?: boolean | undefined
    readonly keep?: boolean | undefined
  }) => Effect.Effect<void>
  readonly goOnline: Effect.Effect<void, ListenError>
  readonly configure: (update: Behavior.BehaviorConfig) => Effect.Effect<void, Schema.SchemaError>
  readonly stop: Effect.Effect<Stats>
  readonly stats: Effect.Effect<Stats>
  readonly finished: Effect.Effect<Finished>
}

const textEncoder = new TextEncoder()

const decodeBehavior = Schema.decodeUnknownEffect(Behavior.BehaviorConfig)

export const make = (input: Config.MqttestConfig): Effect.Effect<Engine, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const config = Config.resolve(input)
    const clock = yield* Clock.Clock
    // Milliseconds with a microsecond fraction (dumps show microseconds).
    const now = () => Number(clock.currentTimeNanosUnsafe() / 1000n) / 1000

    // ------------------------------------------------------------- events
    const hub = EventHub.make(config.eventBufferSize, () => ({
      _tag: "Warning",
      timestamp: now(),
      message: `event buffer full (${config.eventBufferSize} events): a slow reader loses its oldest events`
    }))
    const dumper = yield* Dumper.make(config, (message) => hub.publish({ _tag: "Warning", timestamp: now(), message }))
    const emit = (input: EventInput) => {
      const event = { ...input, timestamp: now() } as ServerEvent
      hub.publish(event)
      dumper?.write(event)
    }

    const forkServer = yield* FiberSet.makeRuntime<never>()
    const broker = new Broker({ config, now, emit, fork: (effect) => forkServer(effect) })

    // ----------------------------------------------------------- listener
    // Every connection runs in a fiber of the server's scope; `handle` is defined below.
    const forkConnection = yield* FiberSet.makeRuntime<never>()
    const onSocket = (net: Net.Socket) => void forkConnection(handle(net))
    let listener = yield* listen(config.host, config.ports.from, config.ports.to, onSocket)
    const host = listener.host
    const port = listener.port

    let state: "running" | "stopping" | "stopped" = "running"
    let allClosed: Deferred.Deferred<void> | undefined
    const finished = yield* Deferred.make<Finished>()
    let nextConnection = 0
    let closedConnections = 0

    const codecViolation = (conn: Connection, error: CodecError.CodecError) => {
      if (error.reason._tag === "UnsupportedProtocolLevel") {
        // CONNACK 0x01 in the 3.1.1 layout, which any client can read [MQTT-3.1.2-2].
        conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: 1 })
      }
      broker.violation(conn, error.message, error.reason.spec, error.disconnectReasonCode)
    }

    /** A packet the client cannot take (e.g. larger than its Maximum Packet Size) is dropped [MQTT-3.1.2-25]. */
    const notSent = (conn: Connection, packet: Packet.Packet, error: CodecError.CodecError) => {
      broker.warn(conn, `${packet._tag.toUpperCase()} not sent: ${error.message}`, "MQTT-3.1.2-25")
      if (packet._tag === "Publish" && packet.packetId !== undefined && conn.session !== undefined) {
        Routing.completeOutbound(broker, conn, conn.session, packet.packetId)
      }
    }

    const handle = (net: Net.Socket): Effect.Effect<void> =>
      Effect.gen(function* () {
        const socket = yield* NodeSocket.fromDuplex(
          Effect.acquireRelease(Effect.succeed(net), (conn) =>
            Effect.sync(() => {
              if (!conn.closed) conn.destroySoon()
            })
          )
        )
        net.setNoDelay(true)
        const outbox = yield* Queue.unbounded<Outgoing>()
        const fork = yield* FiberSet.makeRuntime<never>()
        const conn = new Connection(
          nextConnection++,
          net.remoteAddress ?? "",
          net.remotePort ?? 0,
          {
            write: (item) => void Queue.offerUnsafe(outbox, item),
            fork: (effect) => fork(effect),
            destroy: () => void net.destroy(),
            reset: () => void net.resetAndDestroy()
          },
          now()
        )
        broker.connections.set(conn.id, conn)
        broker.history.push(conn)
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
            if (allClosed !== undefined && broker.connections.size === 0) Deferred.doneUnsafe(allClosed, Exit.void)
            closedConnections++
            if (config.maxConnect !== undefined && closedConnections >= config.maxConnect && state === "running") {
              forkServer(stopWith("MaxConnect"))
            }
          })
        )
        if (state !== "running") broker.close(conn, "ServerStopped")

        const closed = yield* Deferred.make<void>()
        const writer = yield* socket.writer
        const writeLoop = Effect.gen(function* () {
          while (true) {
            let items: Array<Outgoing> = yield* Queue.takeAll(outbox)
            const coalesce = broker.behavior(conn).network?.coalesce
            if (coalesce !== undefined && coalesce > 0 && !items.includes(CLOSE)) {
              // Coalescing: wait, then write everything queued meanwhile in one go.
              yield* Effect.sleep(Duration.millis(coalesce))
              if (Queue.sizeUnsafe(outbox) > 0) items = [...items, ...(yield* Queue.takeAll(outbox))]
            }
            const chunks: Array<Uint8Array> = []
            const sent: Array<Packet.Packet> = []
            let close = false
            for (const item of items) {
              if (item === CLOSE) {
                close = true
                break
              }
              // A blackholed connection writes nothing more.
              if (conn.blackholed) continue
              const prepared = prepare(conn, item, config.assignTopicAliases)
              for (const packet of Faults.applyPacketFaults(broker, conn, prepared)) {
                const encoded = Encoder.encode(packet, conn.level, { maxPacketSize: conn.clientMaximumPacketSize })
                if (encoded._tag === "Failure") {
                  notSent(conn, packet, encoded.failure)
                  continue
                }
                chunks.push(encoded.success)
                sent.push(packet)
                conn.counters.bytesOut += encoded.success.length
              }
            }
            if (chunks.length > 0) {
              yield* Faults.writeImpaired(broker, conn, writer, chunks as [Uint8Array, ...Array<Uint8Array>])
            }
            for (const packet of sent) {
              conn.counters.packetsOut++
              emit({
                _tag: "PacketSent",
                connection: conn.id,
                ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
                packet
              })
            }
            if (close) {
              // RST instead of FIN, when the test asks for it.
              if (broker.behavior(conn).network?.close === "rst") net.resetAndDestroy()
              return
            }
          }
        }).pipe(Effect.ensuring(Deferred.succeed(closed, undefined)))
        fork(writeLoop)

        fork(
          Effect.sleep(Duration.millis(config.connectTimeout)).pipe(
            Effect.andThen(
              Effect.sync(() => {
                if (!conn.connectReceived) broker.close(conn, "ConnectTimeout")
              })
            )
          )
        )

        Behaviors.startMaxTime(broker, conn)

        const parser = Parser.make({ maxPacketSize: config.maxPacketSize })
        const reader = yield* socket.reader
        const readLoop = Effect.gen(function* () {
          while (conn.closing === undefined) {
            const chunks = yield* reader.pull
            for (const chunk of chunks) {
              const bytes = typeof chunk === "string" ? textEncoder.encode(chunk) : chunk
              conn.counters.bytesIn += bytes.length
              // A blackholed connection reads on (to notice the client leaving) but handles nothing.
              if (conn.blackholed) continue
              const parsed = parser.push(bytes)
              for (const packet of parsed.packets) {
                if (conn.closing !== undefined) break
                conn.counters.packetsIn++
                conn.lastReceived = now()
                emit({
                  _tag: "PacketReceived",
                  connection: conn.id,
                  ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
                  packet
                })
                if (conn.stopHandling) continue
                dispatch(broker, conn, packet)
                Behaviors.countPacket(broker, conn)
              }
              if (parsed.error !== undefined && !conn.stopHandling) codecViolation(conn, parsed.error)
              if (conn.closing !== undefined) break
            }
          }
        })
        const exit = yield* Effect.raceFirst(Effect.exit(readLoop), Effect.as(Deferred.await(closed), Exit.void))
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

    // Going offline closes the listener (new clients are refused); live connections are dropped
    // (FIN, or RST with `reset`) unless `keep` is set.
    let offline = false
    const goOnline: Effect.Effect<void, ListenError> = Effect.suspend(() => {
      if (!offline || state !== "running") return Effect.void
      return Effect.gen(function* () {
        listener = yield* listen(config.host, port, port, onSocket)
        offline = false
        emit({ _tag: "Warning", message: `back online on port ${port}` })
      })
    })
    const goOffline = (options?: {
      readonly duration?: number | undefined
      readonly reset?: boolean | undefined
      readonly keep?: boolean | undefined
    }) =>
      Effect.suspend(() => {
        if (offline || state !== "running") return Effect.void
        offline = true
        const dropped = options?.keep === true ? "kept" : options?.reset === true ? "dropped (RST)" : "dropped"
        emit({
          _tag: "Warning",
          message: `offline${options?.duration !== undefined ? ` for ${options.duration} ms` : ""}: new connections refused, live ones ${dropped}`
        })
        if (options?.keep !== true) {
          for (const conn of broker.connections.values()) {
            broker.fault(conn, "offline", options?.reset === true ? "connection reset" : "connection closed")
            conn.closing ??= "Offline"
            if (options?.reset === true) conn.io.reset()
            else conn.io.destroy()
          }
        }
        return listener.close.pipe(
          Effect.andThen(
            options?.duration === undefined
              ? Effect.void
              : Effect.sync(() =>
                  forkServer(
                    Effect.sleep(Duration.millis(options.duration!)).pipe(
                      Effect.andThen(goOnline),
                      Effect.catch((error) => Effect.sync(() => emit({ _tag: "Warning", message: error.message })))
                    )
                  )
                )
          )
        )
      })
    emit({ _tag: "Listening", host, port })

    // ----------------------------------------------------------- commands
    const find = (connection: number) =>
      Effect.suspend(() => {
        const conn = broker.connections.get(connection)
        return conn === undefined || conn.closing !== undefined
          ? Effect.fail(new ConnectionNotFound({ connection }))
          : Effect.succeed(conn)
      })

    const stopWith = (reason: StopReason): Effect.Effect<Stats> =>
      Effect.uninterruptible(
        Effect.suspend((): Effect.Effect<Stats> => {
          if (state !== "running") return Effect.map(Deferred.await(finished), (f) => f.stats)
          state = "stopping"
          return Effect.gen(function* () {
            if (broker.connections.size > 0) {
              allClosed = yield* Deferred.make<void>()
              for (const conn of broker.connections.values()) broker.close(conn, "ServerStopped", 0x8b)
              // A peer that does not read cannot hold the stop up: after a grace period its socket is destroyed.
              const waiting = allClosed
              yield* Deferred.await(waiting).pipe(
                Effect.timeoutOrElse({
                  duration: Duration.seconds(2),
                  orElse: () =>
                    Effect.sync(() => {
                      for (const conn of broker.connections.values()) conn.io.destroy()
                    }).pipe(Effect.andThen(Deferred.await(waiting)))
                }),
                // Real time, even under TestClock: a writer asleep on the test's clock must not hold the stop up.
                Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
              )
            }
            yield* listener.close
            const stats = broker.stats()
            state = "stopped"
            // The last event: every event stream ends with it.
            hub.end({ _tag: "ServerStopped", timestamp: now(), reason, stats })
            // Every entry of every packet is written and synced before the stop completes.
            if (dumper !== undefined) yield* dumper.close
            yield* Deferred.succeed(finished, { stats, events: hub.snapshot() })
            return stats
          })
        })
      )
    if (config.offline !== undefined) {
      const { after, duration, reset, keep } = config.offline
      forkServer(Effect.sleep(Duration.millis(after)).pipe(Effect.andThen(goOffline({ duration, reset, keep }))))
    }
    const stop = stopWith("Stopped")
    yield* Effect.addFinalizer(() => stop)
    if (config.maxRuntime !== undefined) {
      forkServer(Effect.sleep(Duration.millis(config.maxRuntime)).pipe(Effect.andThen(stopWith("MaxRuntime"))))
    }

    return {
      host,
      port,
      events: hub.stream,
      send: (connection, packet) => Effect.map(find(connection), (conn) => conn.send(packet)),
      publish: (topic, payload, options) =>
        Effect.sync(
          () =>
            void Routing.publish(broker, {
              topic,
              payload: typeof payload === "string" ? textEncoder.encode(payload) : payload,
              qos: options?.qos ?? 0,
              retain: options?.retain ?? false,
              properties: options?.properties,
              publisher: undefined,
              receivedAt: now()
            })
        ),
      disconnect: (connection, reasonCode) =>
        Effect.map(find(connection), (conn) => broker.close(conn, "ServerDisconnect", reasonCode ?? 0x98)),
      goOffline,
      goOnline,
      blackhole: (target, options) =>
        Effect.suspend(() => {
          const targets =
            target === "all"
              ? [...broker.connections.values()]
              : [broker.connections.get(target)].filter((c) => c !== undefined)
          if (target !== "all" && targets.length === 0)
            return Effect.fail(new ConnectionNotFound({ connection: target }))
          const apply = () => {
            for (const conn of targets) {
              if (conn.blackholed || conn.closing !== undefined) continue
              conn.blackholed = true
              broker.fault(conn, "blackhole", "no more reading or writing; the socket stays open")
            }
          }
          if (options?.after === undefined) return Effect.sync(apply)
          forkServer(Effect.sleep(Duration.millis(options.after)).pipe(Effect.andThen(Effect.sync(apply))))
          return Effect.void
        }),
      configure: (update) => Effect.map(decodeBehavior(update), (decoded) => broker.configure(decoded)),
      stop,
      stats: Effect.sync(() => broker.stats()),
      finished: Deferred.await(finished)
    } satisfies Engine
  })
