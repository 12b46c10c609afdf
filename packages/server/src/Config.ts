/**
 * The server's configuration: one Schema that decodes library objects and
 * (later) the CLI's config file alike, and its resolution to concrete values.
 *
 * Durations are milliseconds, as on the original mqttest's command line.
 *
 * @since 0.1.0
 */

import * as Fs from "node:fs/promises"
import { Behavior } from "@mqttest/behavior"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SchemaIssue from "effect/SchemaIssue"
import { Authentication } from "./Authentication.js"
import { DumpDecode } from "./Dump.js"
import { defaulted, filled } from "./internal/defaults.js"
import * as Issues from "./internal/issues.js"
import * as JsonSchemaFile from "./internal/jsonSchema.js"
import * as ListenerOptions from "./internal/listenerOptions.js"
import * as PortSchemas from "./internal/ports.js"

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * A port (`0` lets the OS pick one) or an inclusive range `"from-to"`; the
 * first port of the range that binds wins.
 * @since 0.1.0
 */
export const Ports = PortSchemas.Ports

/**
 * What the server tells MQTT 5 clients in CONNACK it supports, and then
 * enforces. Tight values exercise a client's handling of a limited server.
 * @since 0.1.0
 */
export const Capabilities = Schema.Struct({
  /** Highest QoS accepted and granted. Default 2. */
  maximumQoS: defaulted(Schema.Literals([0, 1, 2]), 2),
  /** Retained messages allowed. Default true. */
  retainAvailable: defaulted(Schema.Boolean, true),
  /** Wildcard subscriptions allowed. Default true. */
  wildcardSubscriptionAvailable: defaulted(Schema.Boolean, true),
  /** Subscription identifiers allowed. Default true. */
  subscriptionIdentifiersAvailable: defaulted(Schema.Boolean, true),
  /** Shared subscriptions allowed. Default true. */
  sharedSubscriptionAvailable: defaulted(Schema.Boolean, true),
  /** Highest topic alias a client may use. Default 10. */
  topicAliasMaximum: defaulted(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })), 10),
  /** QoS 1/2 publishes a client may have unacknowledged. Default 65535. */
  receiveMaximum: defaulted(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })), 65535),
  /** Keep alive the server imposes on MQTT 5 clients (seconds). Default: the client's own. */
  serverKeepAlive: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })))
})
/** @since 0.1.0 */
export type Capabilities = typeof Capabilities.Type

/**
 * TLS (`mqtts://`), on a port of its own besides TCP (see `ListenerOptions.Tls`).
 * @since 0.1.0
 */
export const Tls = ListenerOptions.Tls
/** @since 0.1.0 */
export type Tls = ListenerOptions.Tls

/**
 * A WebSocket listener (see `ListenerOptions.WebSocket`).
 * @since 0.1.0
 */
export const WebSocket = ListenerOptions.WebSocket
/** @since 0.1.0 */
export type WebSocket = ListenerOptions.WebSocket

/**
 * Going offline (`goOffline`, the control channel's `offline`, and `offline`
 * in the config with an `after`): new connections are refused for `duration`
 * ms (or until `goOnline`); the live ones are dropped with a FIN, with an RST
 * (`reset`), or kept (`keep`).
 * @since 0.1.0
 */
export const OfflineOptions = Schema.Struct({
  duration: Schema.optionalKey(Millis),
  reset: Schema.optionalKey(Schema.Boolean),
  keep: Schema.optionalKey(Schema.Boolean)
})
/** @since 0.1.0 */
export type OfflineOptions = typeof OfflineOptions.Type

/**
 * @since 0.1.0
 */
export const MqttestConfig = Schema.Struct({
  /**
   * Where connections come from: `"tcp"` (default: `host` and `ports`) or
   * `"memory"` (no port and no network: clients connect with the server's
   * `connectStream`, e.g. MQTT.js's stream builder).
   */
  transport: defaulted(Schema.Literals(["tcp", "memory"]), "tcp"),
  /** Interface to listen on. Default "127.0.0.1" (never all interfaces unless asked). */
  host: defaulted(
    Schema.String.check(
      Schema.makeFilter((host: string) =>
        host.trim() === ""
          ? "expected a host name or address, got an empty string (0.0.0.0 or :: listens on every interface)"
          : undefined
      ),
      // For the JSON Schema (whose default is announced on the last check); "" is refused above first.
      Schema.isMinLength(1)
    ),
    "127.0.0.1"
  ),
  /** Port or port range. Default "1883-2000". */
  ports: defaulted(Ports, "1883-2000"),
  /** A TLS listener (`mqtts://`) besides TCP (see `Tls`); every listener's URL is in `urls`. */
  tls: Schema.optionalKey(Tls),
  /** A WebSocket listener (`ws://host:port/mqtt`) besides TCP. */
  ws: Schema.optionalKey(WebSocket),
  /** A secure WebSocket listener (`wss://`), with the certificate and key of `tls`. */
  wss: Schema.optionalKey(WebSocket),
  /** A Unix domain socket listener besides TCP, at this path (`mqtt+unix://<path>`), its owner's only. */
  unix: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  /** Refuse what the spec lets a server refuse (odd or long client ids) instead of warning. */
  strict: defaulted(Schema.Boolean, false),
  /** Close connections that send no CONNECT within this time. Default 10000. */
  connectTimeout: defaulted(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), 10_000),
  /**
   * Closed connections whose stats are kept in `perConnection` (the latest
   * ones); the totals count every connection. Default 1000.
   */
  connectionHistory: defaulted(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), 1000),
  /** Events kept for subscribers that read late or slowly. Default 1000. */
  eventBufferSize: defaulted(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), 1000),
  /** Largest packet accepted from a client, in bytes. Default: the protocol maximum. */
  maxPacketSize: defaulted(Schema.Int.check(Schema.isBetween({ minimum: 2, maximum: 268435460 })), 268435460),
  /** Messages queued per session (offline client, or a slow one) before the oldest is dropped. Default 1000. */
  maxQueuedMessages: defaulted(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), 1000),
  /**
   * Packets a connection may have queued and not yet taken by its socket (a
   * client that reads slowly or not at all). At the bound, the publishers of
   * a client that is still reading wait for it; for a client that took
   * nothing for 500 ms (or at twice the bound) `slowConsumer` applies; a
   * client whose own answers fill twice the bound is not read. Default 1000.
   */
  maxOutbox: defaulted(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), 1000),
  /**
   * What happens to a PUBLISH for a client whose outbox is full: `"drop"`
   * (default) drops QoS 0 messages (counted, with a Warning naming the client)
   * and queues QoS 1/2 in the session (up to `maxQueuedMessages`, then the
   * oldest is dropped); `"disconnect"` closes the client (reason `SlowConsumer`).
   */
  slowConsumer: defaulted(Schema.Literals(["drop", "disconnect"]), "drop"),
  /** MQTT 5 capabilities announced in CONNACK and enforced. */
  capabilities: Schema.optionalKey(Capabilities),
  /** Assign topic aliases on publishes to MQTT 5 clients that accept them. Default false. */
  assignTopicAliases: defaulted(Schema.Boolean, false),
  /** Response Information sent to MQTT 5 clients that request it. Default: none. */
  responseInformation: Schema.optionalKey(Schema.String),
  /**
   * Dump files (JSON Lines), any number. `{c}` in a name becomes the
   * connection id, `{id}` the client id (made safe for a file name).
   */
  dumps: defaulted(Schema.Array(Schema.String), []),
  /** Prepended to every dump file name (a directory and/or name prefix). */
  dumpPrefix: defaulted(Schema.String, ""),
  /** How PUBLISH payloads are decoded in dumps. */
  dumpDecode: Schema.optionalKey(DumpDecode),
  /** A pcapng capture of the run, written as it goes like a dump (see `Pcap`); after `dumpPrefix`. */
  pcap: Schema.optionalKey(Schema.String),
  /**
   * MQTT 5 enhanced authentication: authenticators by authentication method
   * (see `Authentication`). A CONNECT naming another method gets CONNACK 0x8C.
   */
  authentication: Schema.optionalKey(Authentication),
  /** Stop the server once this many connections have been accepted and have closed. */
  maxConnect: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Stop the server this long after it started (ms). */
  maxRuntime: Schema.optionalKey(Millis),
  /**
   * Go offline `after` ms from the start: refuse new connections and drop the
   * live ones (RST with `reset`, kept with `keep`), for `duration` ms (or until `goOnline`).
   */
  offline: Schema.optionalKey(Schema.Struct({ after: Millis, ...OfflineOptions.fields })),
  /**
   * Behaviour, per connection (see `@mqttest/behavior`): ack delays and
   * timeouts, closing after N packets or a time, session expiry override,
   * rejected clients, refused operations, client id rules and the seed.
   */
  ...Behavior.BehaviorConfig.fields
})
/** @since 0.1.0 */
export type MqttestConfig = typeof MqttestConfig.Type

/**
 * The JSON Schema (draft 2020-12) of a config file (`--config`), as shipped
 * in `config.schema.json`: the config Schema without what only a program can
 * give (Effect Schedules as delays, decoder functions).
 * @since 0.1.0
 */
export const jsonSchema = (): Record<string, unknown> =>
  JsonSchemaFile.file(MqttestConfig, {
    id: "urn:mqttest:schema:config",
    title: "mqttest config file",
    description: "The options of an mqttest server, as read by --config, Config.loadFile and loadConfig."
  })

const fields = MqttestConfig.fields
const caps = Capabilities.fields

/**
 * The server options with every default filled in, derived from the config
 * Schema: decoding a config with it fills in the defaults the config Schema
 * states (see `resolve`).
 * @since 0.1.0
 */
export const ServerOptions = Schema.Struct({
  transport: filled(fields.transport),
  host: filled(fields.host),
  ports: filled(fields.ports),
  tls: Schema.optionalKey(
    Schema.Struct({
      ...Tls.fields,
      clientAuth: filled(Tls.fields.clientAuth),
      ports: filled(Tls.fields.ports)
    })
  ),
  ws: Schema.optionalKey(Schema.Struct({ ports: filled(WebSocket.fields.ports), path: filled(WebSocket.fields.path) })),
  unix: fields.unix,
  wss: Schema.optionalKey(
    Schema.Struct({ ports: filled(ListenerOptions.secureWebSocketPorts), path: filled(WebSocket.fields.path) })
  ),
  strict: filled(fields.strict),
  connectTimeout: filled(fields.connectTimeout),
  eventBufferSize: filled(fields.eventBufferSize),
  connectionHistory: filled(fields.connectionHistory),
  maxPacketSize: filled(fields.maxPacketSize),
  maxQueuedMessages: filled(fields.maxQueuedMessages),
  maxOutbox: filled(fields.maxOutbox),
  slowConsumer: filled(fields.slowConsumer),
  capabilities: Schema.Struct({
    maximumQoS: filled(caps.maximumQoS),
    retainAvailable: filled(caps.retainAvailable),
    wildcardSubscriptionAvailable: filled(caps.wildcardSubscriptionAvailable),
    subscriptionIdentifiersAvailable: filled(caps.subscriptionIdentifiersAvailable),
    sharedSubscriptionAvailable: filled(caps.sharedSubscriptionAvailable),
    topicAliasMaximum: filled(caps.topicAliasMaximum),
    receiveMaximum: filled(caps.receiveMaximum),
    serverKeepAlive: caps.serverKeepAlive
  }).pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  assignTopicAliases: filled(fields.assignTopicAliases),
  responseInformation: fields.responseInformation,
  maxConnect: fields.maxConnect,
  maxRuntime: fields.maxRuntime,
  offline: fields.offline,
  dumps: filled(fields.dumps),
  dumpPrefix: filled(fields.dumpPrefix),
  dumpDecode: fields.dumpDecode,
  pcap: fields.pcap,
  authentication: fields.authentication
})

/**
 * A configuration with every default filled in (`ServerOptions`), the port
 * range as numbers, and the behaviour options apart.
 * @since 0.1.0
 */
export interface Resolved extends Omit<typeof ServerOptions.Type, "ports"> {
  readonly ports: { readonly from: number; readonly to: number }
  /** The behaviour options of the config (changeable at runtime). */
  readonly behavior: Behavior.BehaviorConfig
}

const fillDefaults = Schema.decodeSync(ServerOptions)

/**
 * The behaviour options of a config.
 * @since 0.1.0
 */
export const behaviorOf = (config: MqttestConfig): Behavior.BehaviorConfig => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(Behavior.BehaviorConfig.fields)) {
    const value = (config as Record<string, unknown>)[key]
    if (value !== undefined) out[key] = value
  }
  return out as Behavior.BehaviorConfig
}

/**
 * Fills in defaults. The input must already be valid (decoded or typed).
 * @since 0.1.0
 */
export const resolve = (config: MqttestConfig = {}): Resolved => {
  // Only the server options are decoded here (the behaviour options are kept as they are).
  const options = fillDefaults(config)
  return { ...options, ports: portRange(options.ports), behavior: behaviorOf(config) }
}

/**
 * A port or `"from-to"` range as numbers.
 * @since 0.1.0
 */
export const portRange = (ports: typeof Ports.Type): { readonly from: number; readonly to: number } => {
  const [from, to] = typeof ports === "number" ? [ports, ports] : ports.split("-").map(Number)
  return { from: from!, to: to! }
}

/**
 * A configuration (or a runtime change of one) that the Schema refused. The
 * message has one line per problem: the option's path, what it accepts and
 * what it got; unknown options name the accepted ones.
 * @since 0.1.0
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  problem: Schema.String
}) {
  override get message(): string {
    return `invalid config: ${this.problem}`
  }
}

const strict = { onExcessProperty: "error", reportInput: true } as const

const decodeWith =
  <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) =>
  (input: unknown): Effect.Effect<S["Type"], ConfigError> =>
    Schema.decodeUnknownEffect(schema)(input, strict).pipe(
      Effect.mapError((error) => new ConfigError({ problem: Issues.format(error.issue) }))
    )

/**
 * Decodes an unknown value (a plain object, a parsed config file, a control
 * command's config) into a config. Unknown options are errors everywhere.
 * @since 0.1.0
 */
export const decodeUnknown: (input: unknown) => Effect.Effect<MqttestConfig, ConfigError> = decodeWith(MqttestConfig)

/**
 * Decodes a runtime change of behaviour options (`configure`): the same
 * Schema as the config's behaviour options; `null` unsets an option.
 * @since 0.1.0
 */
export const decodeBehavior: (input: unknown) => Effect.Effect<Behavior.BehaviorConfig, ConfigError> = decodeWith(
  Behavior.BehaviorConfig
)

/**
 * A Schema issue as the lines a config error shows.
 * @since 0.1.0
 */
export const formatIssue = (issue: SchemaIssue.Issue): string => Issues.format(issue)

/**
 * A config file that could not be read, parsed or decoded; the message names
 * the file and what was wrong where.
 * @since 0.1.0
 */
export class ConfigFileError extends Schema.TaggedError<ConfigFileError>()("ConfigFileError", {
  path: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `config file ${this.path}: ${this.problem}`
  }
}

/**
 * Reads a JSON config file and decodes it with the config Schema (unknown
 * options are refused, so a typo is an error rather than silently ignored).
 * @since 0.1.0
 */
export const loadFile = (path: string): Effect.Effect<MqttestConfig, ConfigFileError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => Fs.readFile(path, "utf8"),
      catch: (cause) => new ConfigFileError({ path, problem: cause instanceof Error ? cause.message : String(cause) })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (cause) =>
        new ConfigFileError({ path, problem: `not JSON: ${cause instanceof Error ? cause.message : cause}` })
    })
    return yield* decodeUnknown(json).pipe(
      Effect.mapError((error) => new ConfigFileError({ path, problem: error.problem }))
    )
  })
