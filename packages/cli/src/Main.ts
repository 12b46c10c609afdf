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
import { NodeServices } from "@effect/platform-node"
import { Config, type ListenError, MqttServer, ServerEvent } from "@mqttest/server"
import { Cause, Deferred, Effect, Exit, Fiber, Option, Schema, Stream } from "effect"
import { Command } from "effect/cli"
import * as Control from "./Control.js"
import { type Flags, flags, toConfig, UsageError } from "./Flags.js"

/** @since 0.1.0 */
export const version = "0.1.0"

/** Exit codes. @since 0.1.0 */
export const ExitCode = { Ok: 0, Internal: 1, Usage: 2, Listen: 3 } as const

/** Writes a stdout line, waiting when the pipe is full (a slow reader slows the writer, nothing is lost). */
const writeOut = (line: string) =>
  Effect.callback<void>((resume) => {
    if (process.stdout.write(`${line}\n`)) resume(Effect.void)
    else process.stdout.once("drain", () => resume(Effect.void))
  })
const writeErr = (line: string) =>
  Effect.callback<void>((resume) => {
    if (process.stderr.write(`mqttest: ${line}\n`)) resume(Effect.void)
    else process.stderr.once("drain", () => resume(Effect.void))
  })

const encodeEvent = Schema.encodeSync(Schema.toCodecJson(ServerEvent.ServerEvent))

const levels = ["error", "warn", "info", "debug"] as const
type Level = (typeof levels)[number]

/** The human log line of an event and its level, or undefined. */
const describe = (event: ServerEvent.ServerEvent): readonly [Level, string] | undefined => {
  switch (event._tag) {
    case "Listening":
      return ["info", `listening on ${event.host}:${event.port}`]
    case "ConnectionOpened":
      return ["info", `connection ${event.connection} opened from ${event.remoteAddress}:${event.remotePort}`]
    case "ConnectionClosed":
      return [
        "info",
        `connection ${event.connection}${event.clientId ? ` (${event.clientId})` : ""} closed: ${event.reason}`
      ]
    case "PacketReceived":
    case "PacketSent":
      return [
        "debug",
        `${event._tag === "PacketReceived" ? "<-" : "->"} ${event.connection} ${event.packet._tag.toUpperCase()}`
      ]
    case "Warning":
      // A client id outside [0-9a-zA-Z]{1,23} is accepted and only advisory; most client
      // libraries generate such ids, so at the default level it would drown the real warnings.
      return [
        event.spec === "MQTT-3.1.3-5" ? "info" : "warn",
        `warning: ${event.message}${event.spec ? ` [${event.spec}]` : ""}`
      ]
    case "ProtocolViolation":
      return ["warn", `connection ${event.connection}: protocol violation: ${event.message}`]
    case "FaultInjected":
      return ["info", `connection ${event.connection ?? "-"}: ${event.fault}: ${event.detail}`]
    case "BehaviorChanged":
      return ["info", `behaviour changed: ${event.options.join(", ")}`]
    case "ServerStopped":
      return ["info", `stopped (${event.reason}): ${event.stats.connections} connection(s)`]
  }
}

/** Reads the control input: one command per line, one answer per line; its end stops the server. */
const controlLoop = (server: MqttServer.MqttServer["Service"]) =>
  Stream.fromAsyncIterable(
    Readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY }),
    () => "stdin"
  ).pipe(
    Stream.filter((line) => line.trim().length > 0),
    Stream.mapEffect((line) => Effect.flatMap(Control.handle(server, line), writeOut)),
    Stream.runDrain,
    Effect.ignore,
    Effect.andThen(server.stop)
  )

const serve = (f: Flags): Effect.Effect<void, unknown, never> =>
  Effect.gen(function* () {
    const level: Level = Option.isSome(f.log)
      ? (levels.find((l) => l === f.log.pipe(Option.getOrThrow)) ??
        (yield* new UsageError({ flag: "log", problem: `expected one of ${levels.join(", ")}` })))
      : "warn"
    const control = Option.getOrUndefined(f.control)
    if (control !== undefined && control !== "stdin") {
      return yield* new UsageError({ flag: "control", problem: `expected "stdin", got ${JSON.stringify(control)}` })
    }
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
    const server = yield* MqttServer.make(config)
    // The contract: the first stdout line says where to connect.
    yield* writeOut(JSON.stringify({ host: server.host, port: server.port, url: server.url, version }))

    const rank = levels.indexOf(level)
    const output = server.events.pipe(
      Stream.runForEach((event) =>
        Effect.gen(function* () {
          if (f.events) yield* writeOut(JSON.stringify(encodeEvent(event)))
          const line = describe(event)
          if (line !== undefined && levels.indexOf(line[0]) <= rank) yield* writeErr(line[1])
        })
      )
    )
    const writer = yield* Effect.forkScoped(output)
    if (control === "stdin") yield* Effect.forkScoped(controlLoop(server))

    const signal = yield* Deferred.make<void>()
    const onSignal = () => Deferred.doneUnsafe(signal, Exit.void)
    process.once("SIGINT", onSignal)
    process.once("SIGTERM", onSignal)
    yield* Effect.raceFirst(Effect.asVoid(server.finished), Effect.andThen(Deferred.await(signal), server.stop))
    // Stopping flushed the dumps; now let every event line out.
    yield* Fiber.await(writer)
  }).pipe(Effect.scoped)

/**
 * The command definition.
 * @since 0.1.0
 */
export const command = Command.make("mqttest", flags, serve).pipe(
  Command.withDescription(
    "An MQTT server for testing MQTT clients. Prints one JSON line with host and port on stdout, then serves " +
      "until stopped. Exit codes: 0 normal stop, 1 internal error, 2 bad arguments or config, 3 cannot listen. " +
      "Options without a flag (rules by client id, per-type ack delays, more MQTT 5 capabilities) go in --config."
  )
)

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

/**
 * Runs the command line and resolves with the exit code.
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  (Command.runWith(command, { version })(verbosity(argv)) as Effect.Effect<void, unknown, Command.Environment>).pipe(
    Effect.provide(NodeServices.layer),
    Effect.exit,
    Effect.flatMap((exit) => {
      if (Exit.isSuccess(exit)) return Effect.succeed(ExitCode.Ok)
      const code = exitCodeOf(exit.cause)
      const error = Cause.squash(exit.cause)
      const text =
        (error as { _tag?: string })._tag === "ShowHelp"
          ? "invalid arguments (see --help)"
          : code === ExitCode.Internal
            ? `internal error: ${Cause.pretty(exit.cause)}`
            : (error as ListenError | Error).message
      return Effect.as(writeErr(text), code)
    })
  )
