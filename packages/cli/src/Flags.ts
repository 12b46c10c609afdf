/**
 * The command line's flags and their translation into the server config.
 * Values keep the original mqttest's syntax: milliseconds, `-` for "none",
 * and comma lists that apply to successive connections.
 *
 * @since 0.1.0
 */
import { Config } from "@mqttest/server"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * A flag value that is not what the flag expects.
 * @since 0.1.0
 */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  flag: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `--${this.flag}: ${this.problem}`
  }
}

const text = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const repeated = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.atLeast(0))

/** The server's defaults, as the config Schema states them (for the flags' descriptions). */
const defaults = Config.resolve({})

/**
 * Every flag of the `mqttest` command.
 * @since 0.1.0
 */
export const flags = {
  ports: text(
    "ports",
    `Port, port range (first free wins) or 0 for any free port (default ${defaults.ports.from}-${defaults.ports.to})`
  ).pipe(Flag.withAlias("p")),
  host: text("host", `Interface to listen on (default ${defaults.host})`),
  config: text("config", "JSON config file (the library's config Schema); flags override it"),
  events: Flag.Boolean("events").pipe(
    Flag.withDescription("Write every server event as a JSON line on stdout"),
    Flag.withDefault(false)
  ),
  pretty: Flag.Boolean("pretty").pipe(
    Flag.withDescription("With --events: a timeline line per event instead of JSON (coloured on a terminal)"),
    Flag.withDefault(false)
  ),
  control: text("control", "Read JSON-line commands from 'stdin' and answer each on stdout"),
  log: text("log", "Log level on stderr: error, warn, info, debug (default warn; -v = info, -vv = debug)"),
  version: Flag.Boolean("version").pipe(
    Flag.withDescription("Print the version on stdout and exit"),
    Flag.withDefault(false)
  ),
  strict: Flag.Boolean("strict").pipe(
    Flag.withDescription("Refuse client ids the spec only tolerates"),
    Flag.withDefault(false)
  ),
  ackTimeouts: text(
    "ack-timeouts",
    "ms[,ms] before resending unacknowledged messages: MQTT 3[, MQTT 5]; - = never (default 5000,-)"
  ),
  ackDelay: text("ack-delay", "ms[,ms…] before PUBACK/PUBREC/PUBCOMP/SUBACK/UNSUBACK, per connection; - = none"),
  connackDelay: text("connack-delay", "ms[,ms…] before CONNACK, per connection; - = none"),
  dumps: repeated("dumps", "Dump file (JSON Lines), repeatable; {c} = connection id, {id} = client id"),
  dumpPrefix: text("dump-prefix", "Prefix (directory and/or name) of every dump file"),
  pcap: text("pcap", "A pcapng capture of the run (Wireshark, tshark), written as it goes"),
  dumpDecode: text(
    "dump-decode",
    "Payload decoder for dumps: utf8, json, hex, base64, or a shell command (stdin → stdout)"
  ),
  idprefix: text("idprefix", "Accept only client ids with this prefix"),
  userpass: text("userpass", "Accept only this user:password (password as hex:… for binary)"),
  maxConnect: text("max-connect", "Stop after this many connections have closed").pipe(Flag.withAlias("c")),
  maxRuntime: text("max-runtime", "Stop after this many ms"),
  maxPkt: text("max-pkt", "n[,n…]: close a connection after receiving n packets, per connection; - = never"),
  maxPktDelay: text("max-pkt-delay", "ms to wait before the --max-pkt close"),
  maxTime: text("max-time", "ms[,ms…]: close a connection this long after it was accepted, per connection; - = never"),
  sessionExpire: text(
    "session-expire",
    "ms[,ms…]: keep sessions this long after the connection closes, per connection; - = as the client asks"
  ),
  maxKeepAlive: text(
    "max-keep-alive",
    "s[,s…]: the longest keep alive a client may have, per connection (MQTT 5: more or 0 gets this as Server Keep Alive); - = none"
  ),
  maxKeepAliveMqtt3: text(
    "max-keep-alive-mqtt3",
    "An MQTT 3 client over --max-keep-alive: refuse (CONNACK 0x02, the default) or accept"
  ),
  refuseSubscribe: repeated("refuse-subscribe", "Topic filter whose subscriptions are refused, repeatable"),
  refusePublish: repeated("refuse-publish", "Topic filter whose publishes are refused, repeatable"),
  refuseUnsubscribe: repeated("refuse-unsubscribe", "Topic filter whose unsubscribes are refused, repeatable"),
  seed: text("seed", "Seed of random delays"),
  connectTimeout: text(
    "connect-timeout",
    `ms a connection may stay without CONNECT (default ${defaults.connectTimeout})`
  ),
  maxPacketSize: text("max-packet-size", "Largest packet accepted, in bytes"),
  maxQos: text("max-qos", "MQTT 5 capability: highest QoS (0, 1 or 2)"),
  noRetain: Flag.Boolean("no-retain").pipe(
    Flag.withDescription("MQTT 5 capability: retained messages not available"),
    Flag.withDefault(false)
  ),
  receiveMaximum: text("receive-maximum", "MQTT 5 capability: QoS 1/2 publishes a client may have in flight"),
  topicAliasMaximum: text("topic-alias-maximum", "MQTT 5 capability: highest topic alias a client may use"),
  serverKeepAlive: text("server-keep-alive", "MQTT 5 capability: keep alive imposed on clients (s)"),
  tlsCert: text("tls-cert", "TLS listener (mqtts://) besides TCP: the server's certificate, a PEM file"),
  tlsKey: text("tls-key", "The TLS listener's private key, a PEM file"),
  tlsCa: text("tls-ca", "CA certificate(s) (PEM file) that client certificates must chain to"),
  tlsClientAuth: text("tls-client-auth", "Client certificates: none (default), request or require"),
  tlsPorts: text("tls-ports", "Port or port range of the TLS listener (default 8883-9000; 0 = any free port)"),
  ws: text("ws", "A WebSocket listener (ws://…/mqtt) besides TCP, on this port or range (0 = any free port)"),
  wss: text("wss", "A secure WebSocket listener (wss://…/mqtt, with --tls-cert/--tls-key) on this port or range"),
  wsPath: text("ws-path", "The path of the WebSocket listeners (default /mqtt)"),
  unix: text("unix", "A Unix domain socket listener besides TCP, at this path (mode 0600)")
}

/**
 * The original mqttest writes "unset" as `-` (`--ack-delay -`, `--max-pkt -,2`): a value that
 * looks like a flag. Such a value is joined to its flag (`--max-pkt=-,2`) before parsing.
 * @since 0.1.0
 */
export const joinDashValues = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const next = argv[i + 1]
    if (/^--?[a-z]/.test(arg) && !arg.includes("=") && next !== undefined && /^-(?:,|$)/.test(next)) {
      out.push(`${arg.startsWith("--") ? arg : (shortNames[arg] ?? arg)}=${next}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

const shortNames: Record<string, string> = { "-p": "--ports", "-c": "--max-connect" }

/** @since 0.1.0 */
export type Flags = {
  readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never
}

/** The config's Schemas: every flag value is checked by the option it sets, with that option's errors. */
const fields = Config.MqttestConfig.fields
const capabilityFields = Config.Capabilities.fields

/** Checks a flag's value with the Schema of the option it sets. */
const checked =
  <S extends Schema.Top & { readonly DecodingServices: never }>(flag: string, schema: S) =>
  (value: unknown): Effect.Effect<S["Type"], UsageError> =>
    Schema.decodeUnknownEffect(schema)(value, { onExcessProperty: "error", reportInput: true }).pipe(
      Effect.mapError(
        (error) =>
          new UsageError({
            flag,
            // In a per-connection list, element N is connection N's value.
            problem: Config.formatIssue(error.issue).replace(/^\[(\d+)\]: /, "connection $1: ")
          })
      )
    )

/** A whole number written in decimal (what every numeric flag takes), then checked by its option's Schema. */
const integer = <S extends Schema.Top & { readonly DecodingServices: never }>(
  flag: string,
  raw: string,
  schema: S
): Effect.Effect<S["Type"], UsageError> =>
  /^\d+$/.test(raw.trim())
    ? checked(flag, schema)(Number(raw))
    : Effect.fail(new UsageError({ flag, problem: `expected a whole number, got ${JSON.stringify(raw)}` }))

/** `n[,n…]` with `-` for none: one value, or a per-connection list; checked by the option's Schema. */
const perConnection = <S extends Schema.Top & { readonly DecodingServices: never }>(
  flag: string,
  raw: string,
  schema: S
) =>
  Effect.gen(function* () {
    const values: Array<number | null> = []
    for (const part of raw.split(",").map((part) => part.trim())) {
      if (part === "-") values.push(null)
      else if (/^\d+$/.test(part)) values.push(Number(part))
      else
        return yield* new UsageError({
          flag,
          problem: `expected n[,n…] (whole numbers, one per connection; - = unset), got ${JSON.stringify(raw)}`
        })
    }
    return yield* checked(flag, schema)(values.length === 1 ? values[0]! : values)
  })

const refusal = (topics: ReadonlyArray<string>) => (topics.length === 0 ? undefined : { topics })

/**
 * The config the flags describe (only what they set).
 * @since 0.1.0
 */
export const toConfig = (f: Flags): Effect.Effect<Config.MqttestConfig, UsageError> =>
  Effect.gen(function* () {
    const out: { -readonly [K in keyof Config.MqttestConfig]?: Config.MqttestConfig[K] } = {}
    const opt = <A>(o: Option.Option<A>) => (Option.isSome(o) ? o.value : undefined)
    // Unset, --ports and --host leave the config file's (or the server's default) value.
    const ports = opt(f.ports)?.trim()
    if (ports !== undefined) {
      out.ports = yield* checked("ports", fields.ports.schema)(/^\d+$/.test(ports) ? Number(ports) : ports)
    }
    const host = opt(f.host)
    if (host !== undefined) out.host = yield* checked("host", fields.host.schema)(host)
    if (f.strict) out.strict = true
    const ackTimeouts = opt(f.ackTimeouts)
    if (ackTimeouts !== undefined) {
      const [v3, v5, ...rest] = ackTimeouts.split(",").map((p) => p.trim())
      if (rest.length > 0) return yield* new UsageError({ flag: "ack-timeouts", problem: "expected ms[,ms]" })
      const parse = (raw: string | undefined, fallback: number | null) =>
        raw === undefined || raw === "-"
          ? Effect.succeed(raw === undefined ? fallback : null)
          : /^\d+$/.test(raw)
            ? Effect.succeed(Number(raw))
            : Effect.fail(
                new UsageError({
                  flag: "ack-timeouts",
                  problem: `expected ms[,ms], got ${JSON.stringify(ackTimeouts)}`
                })
              )
      out.ackTimeouts = yield* checked(
        "ack-timeouts",
        fields.ackTimeouts.schema
      )({
        mqtt3: yield* parse(v3, 5000),
        mqtt5: yield* parse(v5, null)
      })
    }
    const ackDelay = opt(f.ackDelay)
    if (ackDelay !== undefined) out.ackDelay = yield* perConnection("ack-delay", ackDelay, fields.ackDelay.schema)
    const connackDelay = opt(f.connackDelay)
    if (connackDelay !== undefined) {
      out.connackDelay = yield* perConnection("connack-delay", connackDelay, fields.connackDelay.schema)
    }
    const maxPkt = opt(f.maxPkt)
    if (maxPkt !== undefined) out.maxPackets = yield* perConnection("max-pkt", maxPkt, fields.maxPackets.schema)
    const maxTime = opt(f.maxTime)
    if (maxTime !== undefined) out.maxTime = yield* perConnection("max-time", maxTime, fields.maxTime.schema)
    const sessionExpire = opt(f.sessionExpire)
    if (sessionExpire !== undefined) {
      out.sessionExpiry = yield* perConnection("session-expire", sessionExpire, fields.sessionExpiry.schema)
    }
    const maxKeepAlive = opt(f.maxKeepAlive)
    if (maxKeepAlive !== undefined) {
      out.maxKeepAlive = yield* perConnection("max-keep-alive", maxKeepAlive, fields.maxKeepAlive.schema)
    }
    const maxKeepAliveMqtt3 = opt(f.maxKeepAliveMqtt3)
    if (maxKeepAliveMqtt3 !== undefined) {
      out.maxKeepAliveMqtt3 = yield* checked("max-keep-alive-mqtt3", fields.maxKeepAliveMqtt3.schema)(maxKeepAliveMqtt3)
    }
    const maxPktDelay = opt(f.maxPktDelay)
    if (maxPktDelay !== undefined) {
      out.maxPacketsDelay = yield* integer("max-pkt-delay", maxPktDelay, fields.maxPacketsDelay.schema)
    }
    const maxConnect = opt(f.maxConnect)
    if (maxConnect !== undefined) out.maxConnect = yield* integer("max-connect", maxConnect, fields.maxConnect.schema)
    const maxRuntime = opt(f.maxRuntime)
    if (maxRuntime !== undefined) out.maxRuntime = yield* integer("max-runtime", maxRuntime, fields.maxRuntime.schema)
    const seed = opt(f.seed)
    if (seed !== undefined) out.seed = yield* integer("seed", seed, fields.seed.schema)
    const connectTimeout = opt(f.connectTimeout)
    if (connectTimeout !== undefined) {
      out.connectTimeout = yield* integer("connect-timeout", connectTimeout, fields.connectTimeout.schema)
    }
    const maxPacketSize = opt(f.maxPacketSize)
    if (maxPacketSize !== undefined) {
      out.maxPacketSize = yield* integer("max-packet-size", maxPacketSize, fields.maxPacketSize.schema)
    }
    const dumpPrefix = opt(f.dumpPrefix)
    if (dumpPrefix !== undefined) out.dumpPrefix = dumpPrefix
    if (f.dumps.length > 0) out.dumps = f.dumps
    const pcap = opt(f.pcap)
    if (pcap !== undefined) out.pcap = pcap
    const decode = opt(f.dumpDecode)
    if (decode !== undefined) {
      out.dumpDecode = yield* checked(
        "dump-decode",
        fields.dumpDecode.schema
      )(["utf8", "json", "hex", "base64"].includes(decode) ? decode : { command: decode })
    }
    const idprefix = opt(f.idprefix)
    if (idprefix !== undefined) out.clientIdPrefix = { prefix: idprefix }
    const userpass = opt(f.userpass)
    if (userpass !== undefined) {
      const colon = userpass.indexOf(":")
      if (colon < 0) return yield* new UsageError({ flag: "userpass", problem: "expected user:password" })
      const password = userpass.slice(colon + 1)
      out.credentials = yield* checked(
        "userpass",
        fields.credentials.schema
      )({
        username: userpass.slice(0, colon),
        password: password.startsWith("hex:") ? { hex: password.slice(4) } : password
      })
    }
    const refuseSubscribe = refusal(f.refuseSubscribe)
    if (refuseSubscribe) out.refuseSubscribe = refuseSubscribe
    const refusePublish = refusal(f.refusePublish)
    if (refusePublish) out.refusePublish = refusePublish
    const refuseUnsubscribe = refusal(f.refuseUnsubscribe)
    if (refuseUnsubscribe) out.refuseUnsubscribe = refuseUnsubscribe
    const capabilities: { -readonly [K in keyof Config.Capabilities]?: Config.Capabilities[K] } = {}
    const maxQos = opt(f.maxQos)
    if (maxQos !== undefined)
      capabilities.maximumQoS = yield* integer("max-qos", maxQos, capabilityFields.maximumQoS.schema)
    if (f.noRetain) capabilities.retainAvailable = false
    const receiveMaximum = opt(f.receiveMaximum)
    if (receiveMaximum !== undefined) {
      capabilities.receiveMaximum = yield* integer(
        "receive-maximum",
        receiveMaximum,
        capabilityFields.receiveMaximum.schema
      )
    }
    const aliasMaximum = opt(f.topicAliasMaximum)
    if (aliasMaximum !== undefined) {
      capabilities.topicAliasMaximum = yield* integer(
        "topic-alias-maximum",
        aliasMaximum,
        capabilityFields.topicAliasMaximum.schema
      )
    }
    const keepAlive = opt(f.serverKeepAlive)
    if (keepAlive !== undefined) {
      capabilities.serverKeepAlive = yield* integer(
        "server-keep-alive",
        keepAlive,
        capabilityFields.serverKeepAlive.schema
      )
    }
    if (Object.keys(capabilities).length > 0) out.capabilities = capabilities
    const tlsCert = opt(f.tlsCert)
    const tlsKey = opt(f.tlsKey)
    const tlsCa = opt(f.tlsCa)
    const tlsClientAuth = opt(f.tlsClientAuth)
    const tlsPorts = opt(f.tlsPorts)?.trim()
    if ([tlsCert, tlsKey, tlsCa, tlsClientAuth, tlsPorts].some((value) => value !== undefined)) {
      if (tlsCert === undefined || tlsKey === undefined) {
        return yield* new UsageError({
          flag: tlsCert === undefined ? "tls-cert" : "tls-key",
          problem: "a TLS listener needs both --tls-cert and --tls-key"
        })
      }
      out.tls = yield* checked(
        "tls",
        fields.tls.schema
      )({
        cert: tlsCert,
        key: tlsKey,
        ...(tlsCa !== undefined ? { ca: tlsCa } : {}),
        ...(tlsClientAuth !== undefined ? { clientAuth: tlsClientAuth } : {}),
        ...(tlsPorts !== undefined ? { ports: /^\d+$/.test(tlsPorts) ? Number(tlsPorts) : tlsPorts } : {})
      }).pipe(
        // The problem names the option (`clientAuth: …`): say it of the flag that set it.
        Effect.mapError((error) => {
          const [option, ...rest] = error.problem.split(": ")
          const flag = { clientAuth: "tls-client-auth", ports: "tls-ports" }[option ?? ""]
          return flag === undefined ? error : new UsageError({ flag, problem: rest.join(": ") })
        })
      )
    }
    const unix = opt(f.unix)
    if (unix !== undefined) out.unix = yield* checked("unix", fields.unix.schema)(unix)
    const wsPath = opt(f.wsPath)
    for (const [flag, value] of [
      ["ws", opt(f.ws)],
      ["wss", opt(f.wss)]
    ] as const) {
      if (value === undefined) continue
      const ports = value.trim()
      out[flag] = yield* checked(
        flag,
        fields.ws.schema
      )({ ports: /^\d+$/.test(ports) ? Number(ports) : ports, ...(wsPath !== undefined ? { path: wsPath } : {}) }).pipe(
        Effect.mapError((error) =>
          error.problem.startsWith("path:")
            ? new UsageError({ flag: "ws-path", problem: error.problem.slice("path: ".length) })
            : new UsageError({ flag, problem: error.problem.replace(/^ports: /, "") })
        )
      )
    }
    return out
  })
