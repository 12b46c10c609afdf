/**
 * The control channel: JSON-line commands on stdin, one JSON-line answer
 * each on stdout, so a test in any language can drive a running server.
 *
 * @since 0.1.0
 */
import { Packet } from "@mqttest/codec"
import { Config, type MqttServer, ServerEvent } from "@mqttest/server"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const id = Schema.optionalKey(Schema.Json)

/**
 * A command. `id` (any JSON value) is echoed in the answer as `reply`.
 * @since 0.1.0
 */
export const ControlCommand = Schema.Union([
  Schema.Struct({
    id,
    cmd: Schema.Literal("publish"),
    topic: Schema.String,
    payload: Schema.optionalKey(Schema.String),
    payloadBase64: Schema.optionalKey(Schema.Uint8ArrayFromBase64),
    qos: Schema.optionalKey(Packet.QoS),
    retain: Schema.optionalKey(Schema.Boolean)
  }),
  Schema.Struct({ id, cmd: Schema.Literal("send"), connection: Schema.Int, packet: Schema.toCodecJson(Packet.Packet) }),
  Schema.Struct({
    id,
    cmd: Schema.Literal("disconnect"),
    connection: Schema.Int,
    reasonCode: Schema.optionalKey(Schema.Int)
  }),
  Schema.Struct({ id, cmd: Schema.Literal("configure"), config: Schema.Unknown }),
  Schema.Struct({ id, cmd: Schema.Literal("reset") }),
  Schema.Struct({
    id,
    cmd: Schema.Literal("offline"),
    ...Config.OfflineOptions.fields
  }),
  Schema.Struct({ id, cmd: Schema.Literal("online") }),
  Schema.Struct({
    id,
    cmd: Schema.Literal("blackhole"),
    connection: Schema.Union([Schema.Int, Schema.Literal("all")]),
    after: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
  }),
  Schema.Struct({ id, cmd: Schema.Literal("stats") }),
  Schema.Struct({ id, cmd: Schema.Literal("stop") })
])
/** @since 0.1.0 */
export type ControlCommand = typeof ControlCommand.Type

const decodeCommand = Schema.decodeUnknownEffect(Schema.fromJsonString(ControlCommand))
const encodeStats = Schema.encodeSync(Schema.toCodecJson(ServerEvent.Stats))

const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Runs one command line and returns the answer line.
 * @since 0.1.0
 */
export const handle = (server: MqttServer.MqttServer["Service"], line: string): Effect.Effect<string> =>
  Effect.gen(function* () {
    const parsed = yield* Effect.result(decodeCommand(line))
    if (parsed._tag === "Failure") {
      const raw = yield* Effect.option(Effect.try(() => JSON.parse(line) as { id?: unknown }))
      const replyTo =
        raw._tag === "Some" && typeof raw.value === "object" && raw.value !== null ? raw.value.id : undefined
      return JSON.stringify({ reply: replyTo ?? null, ok: false, error: parsed.failure.message })
    }
    const command = parsed.success
    const answer = (result: Effect.Effect<unknown, unknown>) =>
      Effect.match(result, {
        onFailure: (error) => JSON.stringify({ reply: command.id ?? null, ok: false, error: message(error) }),
        onSuccess: (value) =>
          JSON.stringify({ reply: command.id ?? null, ok: true, ...(value === undefined ? {} : { result: value }) })
      })
    switch (command.cmd) {
      case "publish":
        return yield* answer(
          Effect.asVoid(
            server.publish(command.topic, command.payloadBase64 ?? command.payload ?? "", {
              qos: command.qos,
              retain: command.retain
            })
          )
        )
      case "send":
        return yield* answer(server.send(command.connection, command.packet))
      case "disconnect":
        return yield* answer(server.disconnect(command.connection, command.reasonCode))
      case "configure":
        return yield* answer(server.configure(command.config as never))
      case "offline": {
        const { id: _id, cmd: _cmd, ...options } = command
        return yield* answer(server.goOffline(options))
      }
      case "reset":
        return yield* answer(server.reset)
      case "online":
        return yield* answer(server.goOnline)
      case "blackhole":
        return yield* answer(server.blackhole(command.connection, { after: command.after }))
      case "stats":
        return yield* answer(Effect.map(server.stats, encodeStats))
      case "stop":
        return yield* answer(Effect.map(server.stop, encodeStats))
    }
  })
