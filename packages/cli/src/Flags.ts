/**
 * The command line's flags and their translation into the server config.
 * Values keep the original mqttest's syntax: milliseconds, `-` for "none",
 * and comma lists that apply to successive connections.
 *
 * @since 0.1.0
 */
import type { Config } from "@mqttest/server"
import { Effect, Option, Schema } from "effect"
import { Flag } from "effect/cli"

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

/**
 * Every flag of the `mqttest` command.
 * @since 0.1.0
 */
export const flags = {
  ports: text("ports", "Port, port range (first free wins) or 0 for any free port (default 1883-2000)").pipe(
    Flag.withAlias("p")
  ),
  host: text("host", "Interface to listen on (default 127.0.0.1)"),
  config: text("config", "JSON config file (the library's config Schema); flags override it"),
  events: Flag.Boolean("events").pipe(
    Flag.withDescription("Write every server event as a JSON line on stdout"),
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
  refuseSubscribe: repeated("refuse-subscribe", "Topic filter whose subscriptions are refused, repeatable"),
  refusePublish: repeated("refuse-publish", "Topic filter whose publishes are refused, repeatable"),
  refuseUnsubscribe: repeated("refuse-unsubscribe", "Topic filter whose unsubscribes are refused, repeatable"),
  seed: text("seed", "Seed of random delays"),
  connectTimeout: text("connect-timeout", "ms a connection may stay without CONNECT (default 10000)"),
  maxPacketSize: text("max-packet-size", "Largest packet accepted, in bytes"),
  maxQos: text("max-qos", "MQTT 5 capability: highest QoS (0, 1 or 2)"),
  noRetain: Flag.Boolean("no-retain").pipe(
    Flag.withDescription("MQTT 5 capability: retained messages not available"),
    Flag.withDefault(false)
  ),
  receiveMaximum: text("receive-maximum", "MQTT 5 capability: QoS 1/2 publishes a client may have in flight"),
  topicAliasMaximum: text("topic-alias-maximum", "MQTT 5 capability: highest topic alias a client may use"),
  serverKeepAlive: text("server-keep-alive", "MQTT 5 capability: keep alive imposed on clients (s)")
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

const integer = (
  flag: string,
  raw: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER
): Effect.Effect<number, UsageError> => {
  const value = Number(raw)
  return /^\d+$/.test(raw.trim()) && value >= min && value <= max
    ? Effect.succeed(value)
    : Effect.fail(
        new UsageError({
          flag,
          problem: `expected ${max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`}, got ${JSON.stringify(raw)}`
        })
      )
}

/** `n[,n…]` with `-` for none: one value, or a per-connection list. */
const perConnection = (flag: string, raw: string, min = 0) =>
  Effect.gen(function* () {
    const parts = raw.split(",").map((part) => part.trim())
    const values: Array<number | null> = []
    for (const part of parts) {
      if (part === "-") values.push(null)
      else if (/^\d+$/.test(part)) values.push(yield* integer(flag, part, min))
      else
        return yield* new UsageError({
          flag,
          problem: `expected n[,n…] (integers ≥ ${min}, one per connection; - = unset), got ${JSON.stringify(raw)}`
        })
    }
    return values.length === 1 ? values[0]! : values
  })

const refusal = (topics: ReadonlyArray<string>) => (topics.length === 0 ? undefined : { topics })

/**
 * The config the flags describe (only what they set).
 * @since 0.1.0
 */
export const toConfig = (f: Flags): Effect.Effect<Config.MqttestConfig, UsageError> =>
  Effect.gen(function* () {
    const out: Record<string, unknown> = {}
    const opt = <A>(o: Option.Option<A>) => (Option.isSome(o) ? o.value : undefined)
    // Unset, --ports and --host leave the config file's (or the server's default) value.
    const ports = opt(f.ports)?.trim()
    if (ports !== undefined) out.ports = /^\d+$/.test(ports) ? yield* integer("ports", ports, 0, 65535) : ports
    const host = opt(f.host)
    if (host !== undefined) out.host = host
    if (f.strict) out.strict = true
    const ackTimeouts = opt(f.ackTimeouts)
    if (ackTimeouts !== undefined) {
      const [v3, v5, ...rest] = ackTimeouts.split(",").map((p) => p.trim())
      if (rest.length > 0) return yield* new UsageError({ flag: "ack-timeouts", problem: "expected ms[,ms]" })
      const parse = (raw: string | undefined, fallback: number | null) =>
        raw === undefined ? Effect.succeed(fallback) : raw === "-" ? Effect.succeed(null) : integer("ack-timeouts", raw)
      out.ackTimeouts = { mqtt3: yield* parse(v3, 5000), mqtt5: yield* parse(v5, null) }
    }
    const lists: ReadonlyArray<readonly [keyof Flags, string, string, number]> = [
      ["ackDelay", "ack-delay", "ackDelay", 0],
      ["connackDelay", "connack-delay", "connackDelay", 0],
      ["maxPkt", "max-pkt", "maxPackets", 1],
      ["maxTime", "max-time", "maxTime", 0],
      ["sessionExpire", "session-expire", "sessionExpiry", 0]
    ]
    for (const [key, flag, option, min] of lists) {
      const raw = opt(f[key] as Option.Option<string>)
      if (raw !== undefined) out[option] = yield* perConnection(flag, raw, min)
    }
    const single: ReadonlyArray<readonly [keyof Flags, string, string, number, number]> = [
      ["maxPktDelay", "max-pkt-delay", "maxPacketsDelay", 0, Number.MAX_SAFE_INTEGER],
      ["maxConnect", "max-connect", "maxConnect", 1, Number.MAX_SAFE_INTEGER],
      ["maxRuntime", "max-runtime", "maxRuntime", 0, Number.MAX_SAFE_INTEGER],
      ["seed", "seed", "seed", 0, Number.MAX_SAFE_INTEGER],
      ["connectTimeout", "connect-timeout", "connectTimeout", 1, Number.MAX_SAFE_INTEGER],
      ["maxPacketSize", "max-packet-size", "maxPacketSize", 2, 268435460]
    ]
    for (const [key, flag, option, min, max] of single) {
      const raw = opt(f[key] as Option.Option<string>)
      if (raw !== undefined) out[option] = yield* integer(flag, raw, min, max)
    }
    const dumpPrefix = opt(f.dumpPrefix)
    if (dumpPrefix !== undefined) out.dumpPrefix = dumpPrefix
    if (f.dumps.length > 0) out.dumps = f.dumps
    const decode = opt(f.dumpDecode)
    if (decode !== undefined) {
      out.dumpDecode = ["utf8", "json", "hex", "base64"].includes(decode) ? decode : { command: decode }
    }
    const idprefix = opt(f.idprefix)
    if (idprefix !== undefined) out.clientIdPrefix = { prefix: idprefix }
    const userpass = opt(f.userpass)
    if (userpass !== undefined) {
      const colon = userpass.indexOf(":")
      if (colon < 0) return yield* new UsageError({ flag: "userpass", problem: "expected user:password" })
      const password = userpass.slice(colon + 1)
      out.credentials = {
        username: userpass.slice(0, colon),
        password: password.startsWith("hex:") ? { hex: password.slice(4) } : password
      }
    }
    const refuseSubscribe = refusal(f.refuseSubscribe)
    if (refuseSubscribe) out.refuseSubscribe = refuseSubscribe
    const refusePublish = refusal(f.refusePublish)
    if (refusePublish) out.refusePublish = refusePublish
    const refuseUnsubscribe = refusal(f.refuseUnsubscribe)
    if (refuseUnsubscribe) out.refuseUnsubscribe = refuseUnsubscribe
    const capabilities: Record<string, unknown> = {}
    const maxQos = opt(f.maxQos)
    if (maxQos !== undefined) capabilities.maximumQoS = yield* integer("max-qos", maxQos, 0, 2)
    if (f.noRetain) capabilities.retainAvailable = false
    const receiveMaximum = opt(f.receiveMaximum)
    if (receiveMaximum !== undefined)
      capabilities.receiveMaximum = yield* integer("receive-maximum", receiveMaximum, 1, 65535)
    const aliasMaximum = opt(f.topicAliasMaximum)
    if (aliasMaximum !== undefined) {
      capabilities.topicAliasMaximum = yield* integer("topic-alias-maximum", aliasMaximum, 0, 65535)
    }
    const keepAlive = opt(f.serverKeepAlive)
    if (keepAlive !== undefined) capabilities.serverKeepAlive = yield* integer("server-keep-alive", keepAlive, 0, 65535)
    if (Object.keys(capabilities).length > 0) out.capabilities = capabilities
    return out as Config.MqttestConfig
  })
