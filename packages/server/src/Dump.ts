/**
 * The packet dump format: JSON Lines, one Schema'd entry per line. The same
 * Schema writes the lines (`encodeLine`) and reads them back (`read`), and a
 * JSON Schema generated from it (`jsonSchema`, shipped as
 * `dump.schema.json`) describes it for other languages.
 *
 * @since 0.1.0
 */

import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Readline from "node:readline"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as JsonSchemaFile from "./internal/jsonSchema.js"
import * as ServerEvent from "./ServerEvent.js"

/**
 * ISO 8601 UTC with microseconds, e.g. `2026-11-24T23:25:32.123456Z`.
 * @since 0.1.0
 */
export const Time = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/u))

/**
 * `in`: from the client to the server; `out`: from the server to the client.
 * @since 0.1.0
 */
export const Direction = Schema.Literals(["in", "out"])

/**
 * What a PUBLISH payload (whose raw bytes are `packet.payload`, base64) reads
 * as: its length, its text when it is valid UTF-8, its value when it is valid
 * JSON, and the configured decoder's output or error.
 * @since 0.1.0
 */
export const Payload = Schema.Struct({
  length: Schema.Int,
  utf8: Schema.optionalKey(Schema.String),
  json: Schema.optionalKey(Schema.Json),
  decoded: Schema.optionalKey(Schema.Json),
  decodeError: Schema.optionalKey(Schema.String)
})
/** @since 0.1.0 */
export type Payload = typeof Payload.Type

/**
 * The dump entry of a server event: the event's own fields (one Schema for
 * both, so they cannot drift apart), with `time` (ISO 8601) in place of the
 * clock `timestamp`.
 */
const entryOf = <Tag extends string, Fields extends Schema.Struct.Fields & { readonly timestamp: Schema.Top }>(
  tag: Tag,
  event: { readonly fields: Fields }
) => {
  const { timestamp: _timestamp, _tag: _eventTag, ...fields } = event.fields as Fields & { readonly _tag?: unknown }
  return Schema.TaggedStruct(tag, { time: Time, ...(fields as Omit<Fields, "timestamp" | "_tag">) })
}

/**
 * A packet received or sent (a `PacketReceived` or `PacketSent` event), with
 * every field and MQTT 5 property, its direction and what its payload reads as.
 * @since 0.1.0
 */
export const PacketEntry = Schema.TaggedStruct("Packet", {
  time: Time,
  connection: ServerEvent.PacketReceived.fields.connection,
  clientId: ServerEvent.PacketReceived.fields.clientId,
  direction: Direction,
  packet: Schema.toCodecJson(ServerEvent.PacketReceived.fields.packet),
  payload: Schema.optionalKey(Payload)
})

/**
 * A connection was accepted (the `ConnectionOpened` event).
 * @since 0.1.0
 */
export const ConnectionOpenedEntry = entryOf("ConnectionOpened", ServerEvent.ConnectionOpened)

/**
 * A connection ended, and why (the `ConnectionClosed` event).
 * @since 0.1.0
 */
export const ConnectionClosedEntry = entryOf("ConnectionClosed", ServerEvent.ConnectionClosed)

/**
 * A behaviour of the test made the server depart from a plain broker (the `FaultInjected` event).
 * @since 0.1.0
 */
export const FaultEntry = entryOf("FaultInjected", ServerEvent.FaultInjected)

/**
 * A client broke the protocol (the `ProtocolViolation` event).
 * @since 0.1.0
 */
export const ViolationEntry = entryOf("ProtocolViolation", ServerEvent.ProtocolViolation)

/**
 * One step of an enhanced authentication exchange (the `AuthStep` event; the data is in the packets' entries).
 * @since 0.1.0
 */
export const AuthStepEntry = entryOf("AuthStep", ServerEvent.AuthStep)

/**
 * One line of a dump.
 * @since 0.1.0
 */
export const DumpEntry = Schema.Union([
  PacketEntry,
  ConnectionOpenedEntry,
  ConnectionClosedEntry,
  FaultEntry,
  ViolationEntry,
  AuthStepEntry
])
/** @since 0.1.0 */
export type DumpEntry = typeof DumpEntry.Type

const decodeEntry = Schema.decodeUnknownExit(Schema.fromJsonString(DumpEntry))

/**
 * A value with its binary fields as base64, exactly as the Schema's JSON
 * encoding writes them; objects and arrays without binary inside are not
 * copied. (Profiled: cheaper than a `JSON.stringify` replacer, which is
 * called for every key.)
 */
const withBase64 = (value: unknown): unknown => {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.length).toString("base64")
  if (Array.isArray(value)) {
    let copy: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const item = value[i]
      if (item === null || typeof item !== "object") continue
      const converted = withBase64(item)
      if (converted === item) continue
      copy ??= value.slice()
      copy[i] = converted
    }
    return copy ?? value
  }
  if (value === null || typeof value !== "object") return value
  let copy: Record<string, unknown> | undefined
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key]
    if (item === null || typeof item !== "object") continue
    const converted = withBase64(item)
    if (converted === item) continue
    copy ??= { ...value }
    copy[key] = converted
  }
  return copy ?? value
}

/**
 * An entry as one JSON line (without the newline). Entries are built by the
 * server from typed values, so this writes them directly (the hot path of a
 * dump); `read` decodes them with the Schema, and the tests check that every
 * entry reads back equal.
 * @since 0.1.0
 */
export const encodeLine = (entry: DumpEntry): string => JSON.stringify(withBase64(entry))

/**
 * Formats Clock milliseconds (with a fraction) as ISO 8601 with microseconds.
 * @since 0.1.0
 */
export const formatTime = (millis: number): string => {
  const whole = Math.floor(millis)
  const micros = Math.min(999, Math.round((millis - whole) * 1000))
  // Events come in bursts within one millisecond: its ISO text is made once.
  if (whole !== lastWhole) {
    lastWhole = whole
    lastIso = new Date(whole).toISOString().slice(0, -1)
  }
  return `${lastIso}${String(micros).padStart(3, "0")}Z`
}
let lastWhole = Number.NaN
let lastIso = ""

/**
 * The Clock milliseconds (with a fraction) of a dump entry's `time`.
 * @since 0.1.0
 */
export const millisOf = (time: string): number =>
  Date.parse(`${time.slice(0, 23)}Z`) + Number(time.slice(23, 26)) / 1000

/**
 * The server event a dump entry was written from (a `Packet` entry becomes
 * `PacketReceived` or `PacketSent`), so the tools that show runs read dumps
 * and live events alike.
 * @since 0.1.0
 */
export const toEvent = (entry: DumpEntry): ServerEvent.ServerEvent => {
  const timestamp = millisOf(entry.time)
  if (entry._tag === "Packet") {
    return {
      _tag: entry.direction === "in" ? "PacketReceived" : "PacketSent",
      timestamp,
      connection: entry.connection,
      ...(entry.clientId !== undefined ? { clientId: entry.clientId } : {}),
      packet: entry.packet
    } as ServerEvent.ServerEvent
  }
  const { time: _time, ...rest } = entry
  return { ...rest, timestamp } as ServerEvent.ServerEvent
}

/**
 * A dump line that could not be read: the file, the line number (from 1) and
 * the problem.
 * @since 0.1.0
 */
export class DumpReadError extends Schema.TaggedError<DumpReadError>()("DumpReadError", {
  path: Schema.String,
  line: Schema.Int,
  problem: Schema.String
}) {
  override get message(): string {
    return this.line === 0 ? `${this.path}: ${this.problem}` : `${this.path}:${this.line}: ${this.problem}`
  }
}

const problemOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Reads a dump file back as typed entries, line by line.
 * @since 0.1.0
 */
export const read = (path: string): Stream.Stream<DumpEntry, DumpReadError> =>
  Stream.suspend(() => {
    let line = 0
    return Stream.fromAsyncIterable(
      Readline.createInterface({ input: Fs.createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY }),
      (cause) => new DumpReadError({ path, line: 0, problem: cause instanceof Error ? cause.message : String(cause) })
    ).pipe(
      Stream.filter((text) => {
        line++
        return text.length > 0
      }),
      Stream.mapEffect((text) => {
        const exit = decodeEntry(text)
        return exit._tag === "Success"
          ? Effect.succeed(exit.value)
          : Effect.fail(new DumpReadError({ path, line, problem: problemOf(Cause.squash(exit.cause)) }))
      })
    )
  })

const windowsDevices = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/

/**
 * The part of a dump file name that `{id}` becomes for a client id: safe on
 * every platform, and
 * injective even where file names ignore case: lower-case letters, digits,
 * `_` and `-` stay; an upper-case letter becomes `^` and the letter; every
 * other byte `%xx`. A Windows device name gets a `%` in front; an empty id is
 * `%`. Ids longer than 128 characters keep a readable start and a SHA-256 of
 * the whole, so distinct ids stay distinct.
 * @since 0.1.0
 */
export const fileNameOf = (id: string): string => {
  let out = ""
  for (const byte of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(byte)
    out += /[a-z0-9_-]/.test(c) ? c : /[A-Z]/.test(c) ? `^${c.toLowerCase()}` : `%${byte.toString(16).padStart(2, "0")}`
  }
  if (out.length === 0) return "%"
  if (windowsDevices.test(out)) return `%${out}`
  if (out.length <= 128) return out
  return `${out.slice(0, 64)}~${Crypto.createHash("sha256").update(id).digest("hex")}`
}

/**
 * The JSON Schema (draft 2020-12) of one dump line, as shipped in
 * `dump.schema.json`: usable by any standard validator.
 * @since 0.1.0
 */
export const jsonSchema = (): Record<string, unknown> =>
  JsonSchemaFile.file(DumpEntry, {
    id: "urn:mqttest:schema:dump-line",
    title: "mqttest dump line",
    description: "One line of an mqttest packet dump (JSON Lines): a packet received or sent, or a server event."
  })

/**
 * Information about the payload being decoded, for a decoding function.
 * @since 0.1.0
 */
export interface DecodeContext {
  readonly topic: string
  readonly connection: number
  readonly clientId: string | undefined
}

/**
 * A decoding function (library only): payload in, a JSON value out.
 * @since 0.1.0
 */
export type DecodeFunction = (payload: Uint8Array, context: DecodeContext) => Effect.Effect<unknown, unknown>

/**
 * How payloads are decoded into `payload.decoded`: a built-in decoder, an
 * external command (raw payload on stdin, UTF-8 or JSON on stdout; a
 * non-zero exit or output on stderr is the entry's `decodeError`; killed
 * after `timeout` ms, default 1000), or a function.
 * @since 0.1.0
 */
export const DumpDecode = Schema.Union([
  Schema.Literals(["utf8", "json", "hex", "base64"]),
  Schema.Struct({
    command: Schema.String,
    timeout: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
  }),
  Schema.declare((u: unknown): u is DecodeFunction => typeof u === "function", {
    title: "DecodeFunction",
    description: "a function (payload, context) => Effect (library only)"
  })
])
/** @since 0.1.0 */
export type DumpDecode = typeof DumpDecode.Type
