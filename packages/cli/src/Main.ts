/**
 * The `mqttest` command: starts a server from flags and/or a config file,
 * prints one JSON line with its address, then serves until stopped.
 *
 * Exit codes: 0 normal stop (max-connect, max-runtime, stop command,
 * SIGINT/SIGTERM, end of the control input), 2 bad arguments or config,
 * 3 cannot listen, 1 internal error.
 *
 * @since 0.1.0
 */

import * as Readline from "node:readline"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Config, type ListenError, MqttServer, ServerEvent, Timeline } from "@mqttest/server"
import * as Cause from "effect/Cause"
import * as CliConfig from "effect/cli/CliConfig"
import type * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as GlobalFlag from "effect/cli/GlobalFlag"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Control from "./Control.js"
import { pcap, timeline, view } from "./DumpCommands.js"
import { type Flags, flags, joinDashValues, toConfig, UsageError } from "./Flags.js"
import { colorful, writeErr, writeOut } from "./Output.js"

/** @since 0.1.0 */
export const version = "0.1.0"

/** Exit codes. @since 0.1.0 */
export const ExitCode = { Ok: 0, Internal: 1, Usage: 2, Listen: 3 } as const

const encodeEvent = Schema.encodeSync(Schema.toCodecJson(ServerEvent.ServerEvent))

/**
 * Log lines carry client-chosen text (client ids, topics): control characters are written as
 * escapes, so a client cannot forge a log line or send escape sequences to a terminal.
 */
// biome-ignore lint/complexity/useRegexLiterals: as a literal, the control characters it matches trip noControlCharactersInRegex
const controlCharacters = new RegExp("[\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]", "g")
const escapeControl = (text: string): string =>
  text.replace(controlCharacters, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

const levels = ["error", "warn", "info", "debug"] as const
type Level = (typeof levels)[number]

/** The level of an event's log line (cheaper than `describe`: no text). */
const levelOf = (event: ServerEvent.ServerEvent): Level => {
  switch (event._tag) {
    case "PacketReceived":
    case "PacketSent":
      return "debug"
    case "Warning":
      // A client id outside [0-9a-zA-Z]{1,23} is accepted and only advisory; most client
      // libraries generate such ids, so at the default level it would drown the real warnings.
      return event.spec === "MQTT-3.1.3-5" ? "info" : "warn"
    case "ProtocolViolation":
    case "EventsLost":
      return "warn"
    default:
      return "info"
  }
}

/** The human log line of an event (its level: `levelOf`). */
const describe = (event: ServerEvent.ServerEvent): string => {
  switch (event._tag) {
    case "Listening":
      return `listening on ${event.host}:${event.port}`
    case "ConnectionOpened":
      return `connection ${event.connection} opened from ${event.remoteAddress}:${event.remotePort}${event.transport === "tls" ? ` over TLS${event.clientCertificate !== undefined ? ` (client certificate ${event.clientCertificate})` : ""}` : ""}`
    case "ConnectionClosed":
      return `connection ${event.connection}${event.clientId ? ` (${event.clientId})` : ""} closed: ${event.reason}`
    case "PacketReceived":
    case "PacketSent":
      return `${event._tag === "PacketReceived" ? "<-" : "->"} ${event.connection} ${event.packet._tag.toUpperCase()}`
    case "Warning":
      return `warning: ${event.message}${event.spec ? ` [${event.spec}]` : ""}`
    case "ProtocolViolation":
      return `connection ${event.connection}: protocol violation: ${event.message}`
    case "FaultInjected":
      return `connection ${event.connection ?? "-"}: ${event.fault}: ${event.detail}`
    case "EventsLost":
      return `${event.count} events lost: this output fell behind the server`
    case "AuthStep":
      return `connection ${event.connection}: ${event.reauthentication ? "re-authentication" : "authentication"} ${event.method} step ${event.step} (${event.dataLength} bytes): ${event.answer}${event.reasonCode !== undefined ? ` 0x${event.reasonCode.toString(16)}` : ""}`
    case "BehaviorChanged":
      return `behaviour changed: ${event.options.join(", ")}`
    case "ServerStopped":
      return `stopped (${event.reason}): ${event.stats.connections} connection(s)`
  }
}

/** Lines read ahead of the server before stdin is paused (backpressure on the writer of the commands). */
const controlReadAhead = 256

/**
 * The control input, read from the start of the process (so a command written before or right
 * after the startup line is never lost): one command per line, in a queue that ends with stdin.
 * At `controlReadAhead` unanswered lines stdin is paused until the server catches up.
 */
const readControlInput = Effect.gen(function* () {
  // Bounded by policy: stdin is paused at `controlReadAhead` lines (plus what one read delivers).
  const lines = yield* Queue.unbounded<string, Cause.Done>()
  const input = Readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })
  input.on("line", (line) => {
    if (line.trim().length === 0) return
    Queue.offerUnsafe(lines, line)
    if (Queue.sizeUnsafe(lines) >= controlReadAhead) input.pause()
  })
  input.on("close", () => Queue.endUnsafe(lines))
  yield* Effect.addFinalizer(() => Effect.sync(() => input.close()))
  const next = Effect.tap(Queue.take(lines), () =>
    Effect.sync(() => {
      if (Queue.sizeUnsafe(lines) < controlReadAhead / 2) input.resume()
    })
  )
  return Stream.fromPull(Effect.succeed(Effect.map(next, (line): readonly [string] => [line])))
})

/** Answers each control line in order; the end of the input stops the server (after the answers). */
const controlLoop = (server: MqttServer.MqttServer["Service"], lines: Stream.Stream<string>) =>
  lines.pipe(
    // A command being answered is answered, even when the server stops meanwhile (the "stop" command's
    // own answer comes after the server stopped); only the wait for a full stdout pipe can be cut short.
    Stream.mapEffect((line) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Control.handle(server, line), (answer) => writeOut(answer, restore))
      )
    ),
    Stream.runDrain,
    Effect.andThen(server.stop)
  )

const serve = (f: Flags): Effect.Effect<void, unknown, never> =>
  Effect.gen(function* () {
    if (f.version) return yield* writeOut(version)
    const level: Level = Option.isSome(f.log)
      ? (levels.find((l) => l === f.log.pipe(Option.getOrThrow)) ??
        (yield* new UsageError({ flag: "log", problem: `expected one of ${levels.join(", ")}` })))
      : "warn"
    const control = Option.getOrUndefined(f.control)
    if (control !== undefined && control !== "stdin") {
      return yield* new UsageError({ flag: "control", problem: `expected "stdin", got ${JSON.stringify(control)}` })
    }
    // Read from the start: commands written while the server starts are answered once it is ready.
    const controlInput = control === "stdin" ? yield* readControlInput : undefined
    const fromFile = Option.isSome(f.config) ? yield* Config.loadFile(f.config.value) : {}
    const fromFlags = yield* toConfig(f)
    // Flags override the file; MQTT 5 capabilities merge option by option.
    const config = yield* Config.decodeUnknown({
      ...fromFile,
      ...fromFlags,
      ...(fromFile.capabilities && fromFlags.capabilities
        ? { capabilities: { ...fromFile.capabilities, ...fromFlags.capabilities } }
        : {})
    })
    // Signals stop the server cleanly from the moment the startup line can be read.
    const signal = yield* Deferred.make<void>()
    const onSignal = () => Deferred.doneUnsafe(signal, Exit.void)
    process.once("SIGINT", onSignal)
    process.once("SIGTERM", onSignal)
    const server = yield* MqttServer.make(config)
    // The contract: the first stdout line says where to connect.
    yield* writeOut(
      JSON.stringify({ host: server.host, port: server.port, url: server.url, urls: server.urls, version })
    )

    const rank = levels.indexOf(level)
    // Only the events this output shows are queued for it: without --events, a flood of packets
    // costs it nothing and cannot push a warning out of its buffer.
    const logged = (event: ServerEvent.ServerEvent) => levels.indexOf(levelOf(event)) <= rank
    const pretty = f.pretty ? Timeline.formatter({ color: colorful(process.stdout) }) : undefined
    const output = server.eventsAfter(0, f.events ? undefined : logged).pipe(
      Stream.runForEach((event) =>
        Effect.gen(function* () {
          if (f.events && pretty !== undefined) {
            const line = Timeline.lineOfEvent(event)
            if (line !== undefined) yield* writeOut(pretty(line))
          } else if (f.events) yield* writeOut(JSON.stringify(encodeEvent(event)))
          if (logged(event)) yield* writeErr(escapeControl(describe(event)))
        })
      )
    )
    const writer = yield* Effect.forkScoped(output)
    if (controlInput !== undefined) yield* Effect.forkScoped(controlLoop(server, controlInput))

    yield* Effect.raceFirst(Effect.asVoid(server.finished), Effect.andThen(Deferred.await(signal), server.stop))
    // Stopping flushed the dumps; now let every event line out.
    yield* Fiber.await(writer)
  }).pipe(Effect.scoped)

/** What `--help` adds after the flags: enough to drive the server without the README. */
const helpEpilog = `CONTROL CHANNEL (--control stdin)
  One JSON command per stdin line; one JSON answer per stdout line, {"reply":<id>,"ok":true[,"result":…]}
  or {"reply":<id>,"ok":false,"error":"…"}. Commands written before the startup line are answered once
  the server is ready; at the end of stdin the server answers what came before, then stops (exit 0).
    {"id":1,"cmd":"publish","topic":"t","payload":"hi","qos":1,"retain":false}   or "payloadBase64"
    {"id":2,"cmd":"send","connection":0,"packet":{"_tag":"Pingresp"}}           any packet, as it is
    {"id":3,"cmd":"disconnect","connection":0,"reasonCode":152}
    {"id":4,"cmd":"configure","config":{"ackDelay":5000,"maxPackets":[null,3]}} null unsets an option
    {"id":5,"cmd":"reset"}                                                      the start options again
    {"id":6,"cmd":"offline","duration":500,"reset":true}                        or "keep":true
    {"id":7,"cmd":"online"}
    {"id":8,"cmd":"blackhole","connection":0,"after":1000}                      or "connection":"all"
    {"id":9,"cmd":"stats"}
    {"id":10,"cmd":"stop"}                                                      answers the final stats

OUTPUT
  stdout, line 1: {"host":…,"port":…,"url":"mqtt://…","version":…}, written before any client can
  connect. Then only what was asked for: --events (one ServerEvent per line, with "_tag") and control
  answers (with "reply"). Logs and errors go to stderr.
  Events ("_tag", "timestamp" in ms, "connection" from 0 in accept order, "clientId" once known):
    Listening, ConnectionOpened, ConnectionClosed ("reason", "willPublished"), PacketReceived and
    PacketSent ("packet"), Warning and ProtocolViolation ("message", "spec"), FaultInjected ("fault",
    "detail"), BehaviorChanged ("options"), EventsLost ("count": this output fell that many events
    behind; the rest is complete), ServerStopped ("reason", "stats").
  Stats (stats/stop answers, ServerStopped): elapsed, connections, openConnections, packetsIn,
    packetsOut, bytesIn, bytesOut, and perConnection (connection, clientId, open, the four counters).
  Formats: the ServerEvent Schema of @mqttest/server; dump lines follow dump.schema.json and
  --config files config.schema.json (JSON Schema 2020-12, shipped in @mqttest/server).

EXIT CODES
  0 normal stop (max-connect, max-runtime, stop command, end of the control input, SIGINT/SIGTERM),
  1 internal error, 2 bad arguments or config, 3 cannot listen.`

/**
 * The command definition.
 * @since 0.1.0
 */
export const command = Command.make("mqttest", flags, serve).pipe(
  Command.withDescription(
    "An MQTT server for testing MQTT clients. Prints one JSON line with host and port on stdout, then serves " +
      "until stopped. Options without a flag (rules by client id, per-type ack delays, packet faults, network " +
      "impairments, more MQTT 5 capabilities) go in --config or the control channel's configure."
  ),
  Command.withExamples([
    { command: "mqttest -p 0 --events", description: "any free port; every event as a JSON line" },
    { command: "mqttest -p 0 --ack-delay 1000,- --max-pkt -,3", description: "lists apply per connection, - = unset" },
    { command: "mqttest -p 0 --control stdin --config behaviour.json", description: "scripted from a test" },
    { command: "mqttest -p 0 --events --pretty", description: "every event as a timeline line" },
    { command: "mqttest timeline run.jsonl", description: "a dump as a timeline" },
    { command: "mqttest pcap run.jsonl -o run.pcapng", description: "a dump as a capture for Wireshark" },
    { command: "mqttest view run.jsonl", description: "a dump as an HTML sequence diagram (run.html)" }
  ]),
  Command.withSubcommands([timeline, pcap, view])
)

const plain = CliOutput.defaultFormatter({ colors: false })

/** One line per parse error: the flag, what is wrong, and the nearest flag names. */
const invocationError = (error: CliError.NonShowHelpErrors): string =>
  error._tag === "UnrecognizedOption"
    ? `unknown flag ${error.option}${error.suggestions.length > 0 ? ` (did you mean ${error.suggestions.join(" or ")}?)` : ""}`
    : error.message.replace(/\s*\n\s*/g, " ")

/** Help on stdout (it was asked for); a bad invocation is a short error on stderr, never help on stdout. */
const presenter: CliOutput.Presenter = {
  present: (event) => {
    switch (event._tag) {
      case "Help":
        return writeOut(`${plain.formatHelpDoc(event.helpDoc)}\n\n${helpEpilog}`)
      case "InvalidInvocation":
        return Effect.forEach([...event.errors.map(invocationError), "run mqttest --help for the flags"], writeErr, {
          discard: true
        })
      case "Version":
        return writeOut(event.version)
    }
  }
}

const exitCodeOf = (cause: Cause.Cause<unknown>): number => {
  const error = Cause.squash(cause) as { _tag?: string } | undefined
  switch (error?._tag) {
    case "ListenError":
      return ExitCode.Listen
    case "UsageError":
    case "ConfigFileError":
    case "SchemaError":
    case "ConfigError":
    case "ShowHelp":
    case "InvalidValue":
    case "MissingOption":
    case "UnrecognizedOption":
    case "DuplicateOption":
    case "DumpReadError":
    case "ViewWriteError":
    case "UnexpectedArgument":
    case "MissingArgument":
    case "ValidationError":
      return ExitCode.Usage
    default:
      return ExitCode.Internal
  }
}

/** `-v` / `-vv` (as in the original mqttest) are `--log info` / `--log debug`. */
const verbosity = (argv: ReadonlyArray<string>): ReadonlyArray<string> =>
  argv.flatMap((arg) => (arg === "-v" ? ["--log", "info"] : arg === "-vv" ? ["--log", "debug"] : [arg]))

/** Only --help is built in: -v means --log info here, and the log level is --log. */
const cliLayer = Layer.mergeAll(
  NodeServices.layer,
  CliConfig.layer({ builtIns: [GlobalFlag.Help] }),
  CliOutput.layerPresenter(presenter)
)

/**
 * Runs the command line and resolves with the exit code.
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  (
    Command.runWith(command, { version })(joinDashValues(verbosity(argv))) as Effect.Effect<
      void,
      unknown,
      Command.Environment
    >
  ).pipe(
    Effect.provide(cliLayer),
    Effect.exit,
    Effect.flatMap((exit) => {
      if (Exit.isSuccess(exit)) return Effect.succeed(ExitCode.Ok)
      const code = exitCodeOf(exit.cause)
      const error = Cause.squash(exit.cause)
      const text =
        (error as { _tag?: string })._tag === "ShowHelp"
          ? undefined
          : code === ExitCode.Internal
            ? `internal error: ${Cause.pretty(exit.cause)}`
            : (error as ListenError | Error).message
      // A bad invocation was reported by the presenter already.
      return Effect.as(text === undefined ? Effect.void : writeErr(text), code)
    })
  )
