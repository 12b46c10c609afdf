/**
 * What the `MqttServer` service offers: its members, with what each does.
 * (Its own module, so the engine that builds it and the service that names it
 * do not import each other.)
 */
import type { Duplex } from "node:stream"
import type { Behavior } from "@mqttest/behavior"
import type { Packet } from "@mqttest/codec"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type * as Config from "../Config.js"
import type { CommandError, ConnectionNotFound, ListenError, WaitForTimeout } from "../ListenError.js"
import type * as ServerEvent from "../ServerEvent.js"
import type { Stats } from "../ServerEvent.js"

/** Options of the `publish` command. */
export interface PublishOptions {
  readonly qos?: Packet.QoS | undefined
  readonly retain?: boolean | undefined
  readonly properties?: Packet.PublishProperties | undefined
}

/** What `finished` returns. */
export interface Finished {
  readonly stats: Stats
  /** The most recent events (up to the event buffer size), oldest first. */
  readonly events: ReadonlyArray<ServerEvent.ServerEvent>
}

/** Options of `waitFor`. */
export interface WaitForOptions {
  /**
   * Only events after this mark (from {@link MqttServer.mark}): "the next
   * matching event from here on". Default: every event still buffered.
   */
  readonly after?: number | undefined
  /**
   * Fail with `WaitForTimeout` when nothing matched in this time. Real time,
   * even under TestClock (a guard against a hanging test, not a test delay).
   */
  readonly timeout?: Duration.Input | undefined
}

/** The members of the `MqttServer` service. */
export interface Shape {
  /** The address the server is bound to (`"memory"` and 0 in memory). */
  readonly host: string
  readonly port: number
  /**
   * `mqtt://host:port` (`mqtts://` for TLS), for clients (`memory://mqttest` in
   * memory: use `connectStream`); with several listeners, the first one's.
   */
  readonly url: string
  /** Every listener's URL, the first one first (e.g. TCP, then TLS). */
  readonly urls: ReadonlyArray<string>
  /** Where connections come from (the first listener's transport): `"tcp"`, `"tls"` or `"memory"`. */
  readonly transport: "tcp" | "tls" | "ws" | "wss" | "unix" | "memory"
  /**
   * A new client connection to this server, as a duplex stream: in memory,
   * the only way in (no port, no network); over TCP, a socket to the port.
   * For MQTT.js: `new mqtt.MqttClient(() => server.connectStream(), options)`.
   */
  readonly connectStream: () => Duplex
  /**
   * Every server event. Each stream starts with the events still in the
   * event buffer (so a test cannot miss what happened before it looked),
   * then follows live events, and ends with `ServerStopped`.
   */
  readonly events: Stream.Stream<ServerEvent.ServerEvent>
  /**
   * The events after a mark (see `mark`; 0 for all): buffered ones first,
   * then live ones. With `keep`, only the events it keeps enter this
   * reader's buffer, so a flood of other events cannot push them out (and a
   * reader costs nothing for events it does not want).
   */
  readonly eventsAfter: (
    mark: number,
    keep?: (event: ServerEvent.ServerEvent) => boolean
  ) => Stream.Stream<ServerEvent.ServerEvent>
  /**
   * The events still in the event buffer (the latest `eventBufferSize` of them),
   * oldest first: what a test's report (e.g. `View.write`) shows of the run.
   */
  readonly recentEvents: Effect.Effect<ReadonlyArray<ServerEvent.ServerEvent>>
  /** The position after the latest event, for `waitFor({ after })` and `eventsAfter`. */
  readonly mark: Effect.Effect<number>
  /**
   * The first event (from the buffer or later; with `after`, only after that
   * mark) that satisfies a predicate; with `timeout`, fails with
   * `WaitForTimeout` naming the predicate when none comes in time.
   */
  readonly waitFor: <E extends ServerEvent.ServerEvent>(
    predicate: (event: ServerEvent.ServerEvent) => event is E,
    options?: WaitForOptions
  ) => Effect.Effect<E, WaitForTimeout>
  /** Writes any packet to a connection, as it is (for injecting packets). */
  readonly send: (connection: number, packet: Packet.Packet) => Effect.Effect<void, ConnectionNotFound>
  /**
   * Publishes an application message as the server, to every matching
   * subscriber; a topic name that is empty, has a wildcard or U+0000 fails
   * with `CommandError`.
   */
  readonly publish: (
    topic: string,
    payload: Uint8Array | string,
    options?: PublishOptions
  ) => Effect.Effect<void, CommandError>
  /**
   * Closes a connection; an MQTT 5 client gets a DISCONNECT with `reasonCode`
   * (default 0x98, administrative action) first. Its will is published.
   */
  readonly disconnect: (
    connection: number,
    reasonCode?: number
  ) => Effect.Effect<void, ConnectionNotFound | CommandError>
  /**
   * Blackholes a connection (or all): the server stops reading and writing it
   * but keeps the socket open — the half-dead peer only a client's keep alive
   * detects; with `after`, that many ms from now. Emits `FaultInjected`.
   */
  readonly blackhole: (
    target: number | "all",
    options?: { readonly after?: number | undefined }
  ) => Effect.Effect<void, ConnectionNotFound>
  /**
   * Goes offline: refuses new connections and drops the live ones (FIN, or
   * RST with `reset`; kept with `keep`), for `duration` ms or until `goOnline`.
   */
  readonly goOffline: (options?: Config.OfflineOptions) => Effect.Effect<void>
  /** Listens again (on the same port) after `goOffline`. */
  readonly goOnline: Effect.Effect<void, ListenError>
  /**
   * Changes behaviour options at runtime (any subset of the config's
   * behaviour options; `null` unsets one): new connections use them at
   * once, live connections from their next packet. Decoded with the
   * config's Schema (unknown options are errors). Emits `BehaviorChanged`.
   */
  readonly configure: (update: Behavior.BehaviorConfig) => Effect.Effect<void, Config.ConfigError>
  /** Restores the behaviour options the server started with. Emits `BehaviorChanged` with `reset: true`. */
  readonly reset: Effect.Effect<void>
  /** Stops the server: closes every connection and the listener; returns the final statistics. */
  readonly stop: Effect.Effect<Stats>
  /** Statistics so far (see `ServerEvent.Stats`). */
  readonly stats: Effect.Effect<Stats>
  /** Waits until the server has stopped (by `stop` or by releasing its scope). */
  readonly finished: Effect.Effect<Finished>
}
