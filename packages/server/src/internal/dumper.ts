/**
 * Writes server events to the dump files. The server hands every event over
 * synchronously (nothing is dropped, whatever the load); one fiber turns
 * them into lines, in order, decodes payloads, and appends whole lines to
 * each target file, opened once. Closing drains everything and syncs the
 * files before it completes.
 */

import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { type Cause, Duration, Effect, Fiber, Queue, Schema, type Scope } from "effect"
import type * as Config from "../Config.js"
import * as Dump from "../Dump.js"
import type { ServerEvent } from "../ServerEvent.js"

export interface Dumper {
  readonly write: (event: ServerEvent) => void
  /** Writes everything handed over so far, syncs and closes the files. */
  readonly close: Effect.Effect<void>
}

const utf8 = new TextDecoder("utf-8", { fatal: true })
const isJson = Schema.is(Schema.Json)

/** A client id made safe as part of a file name: no separators, dots, NUL; bounded length. */
export const safeName = (id: string): string => {
  let out = ""
  for (const byte of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).padStart(2, "0")}`
  }
  if (out.length === 0) return "%"
  if (out.length <= 128) return out
  // Long ids keep a readable start and a hash of the whole, so distinct ids stay distinct.
  let hash = 0x811c9dc5
  for (let i = 0; i < out.length; i++) hash = Math.imul(hash ^ out.charCodeAt(i), 0x01000193) >>> 0
  return `${out.slice(0, 100)}~${hash.toString(16).padStart(8, "0")}`
}

/** A payload as text, and as JSON when it is JSON; undefined when it is not UTF-8. */
const readable = (bytes: Uint8Array): { readonly utf8: string; readonly json: Schema.Json | undefined } | undefined => {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return undefined
  }
  try {
    return { utf8: text, json: JSON.parse(text) as Schema.Json }
  } catch {
    return { utf8: text, json: undefined }
  }
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Runs an external decoder: payload on stdin, result on stdout. */
const runCommand = (command: string, payload: Uint8Array): Effect.Effect<unknown, string> =>
  Effect.callback<unknown, string>((resume) => {
    const child = ChildProcess.spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"] })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    child.on("error", (error) => resume(Effect.fail(`cannot run decoder: ${error.message}`)))
    child.on("close", (code) => {
      const stderr = Buffer.concat(err).toString("utf8").trim()
      if (code !== 0 || stderr.length > 0) {
        return resume(Effect.fail(`decoder failed (exit code ${code})${stderr.length > 0 ? `: ${stderr}` : ""}`))
      }
      const text = readable(Buffer.concat(out))
      resume(
        text === undefined
          ? Effect.fail("decoder output is not UTF-8")
          : Effect.succeed(text.json !== undefined ? text.json : text.utf8.trim())
      )
    })
    child.stdin.on("error", () => {})
    child.stdin.end(payload)
    return Effect.sync(() => child.kill("SIGKILL"))
  })

type Decoder = (payload: Uint8Array, context: Dump.DecodeContext) => Effect.Effect<unknown, string>

const makeDecoder = (spec: Dump.DumpDecode | undefined): Decoder | undefined => {
  if (spec === undefined) return undefined
  if (typeof spec === "function") {
    return (payload, context) =>
      Effect.mapError(
        Effect.suspend(() => spec(payload, context)),
        message
      )
  }
  if (typeof spec === "object") {
    const timeout = spec.timeout ?? 1000
    return (payload) =>
      runCommand(spec.command, payload).pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(timeout),
          orElse: () => Effect.fail(`decoder timed out after ${timeout} ms`)
        })
      )
  }
  switch (spec) {
    case "utf8":
      return (payload) => Effect.try({ try: () => utf8.decode(payload), catch: () => "not valid UTF-8" })
    case "json":
      return (payload) =>
        Effect.try({ try: () => JSON.parse(utf8.decode(payload)) as unknown, catch: () => "not valid JSON" })
    case "hex":
      return (payload) => Effect.succeed(Buffer.from(payload).toString("hex"))
    case "base64":
      return (payload) => Effect.succeed(Buffer.from(payload).toString("base64"))
  }
}

export const make = (
  config: Config.Resolved,
  warn: (message: string) => void
): Effect.Effect<Dumper | undefined, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (config.dumps.length === 0) return undefined
    const queue = yield* Queue.unbounded<ServerEvent, Cause.Done>()
    const decoder = makeDecoder(config.dumpDecode)
    const files = new Map<string, Fs.FileHandle>()
    const failed = new Set<string>()

    const payloadOf = (
      packet: { readonly payload: Uint8Array; readonly topic: string },
      connection: number,
      clientId: string | undefined
    ) =>
      Effect.gen(function* () {
        const payload: { -readonly [K in keyof Dump.Payload]: Dump.Payload[K] } = { length: packet.payload.length }
        // Not UTF-8, or not JSON: those fields stay out.
        const text = readable(packet.payload)
        if (text !== undefined) payload.utf8 = text.utf8
        if (text?.json !== undefined) payload.json = text.json
        if (decoder !== undefined) {
          const result = yield* Effect.result(decoder(packet.payload, { topic: packet.topic, connection, clientId }))
          if (result._tag === "Failure") payload.decodeError = result.failure
          else if (isJson(result.success)) payload.decoded = result.success
          else payload.decodeError = "decoder returned a value that is not JSON"
        }
        return payload as Dump.Payload
      })

    const entryOf = (event: ServerEvent): Effect.Effect<Dump.DumpEntry | undefined> =>
      Effect.gen(function* () {
        const time = Dump.formatTime(event.timestamp)
        switch (event._tag) {
          case "PacketReceived":
          case "PacketSent": {
            const { packet } = event
            const clientId = clientIdOf(event)
            return {
              _tag: "Packet",
              time,
              connection: event.connection,
              ...(clientId !== undefined ? { clientId } : {}),
              direction: event._tag === "PacketReceived" ? "in" : "out",
              packet,
              ...(packet._tag === "Publish" ? { payload: yield* payloadOf(packet, event.connection, clientId) } : {})
            } satisfies Dump.DumpEntry
          }
          case "ConnectionOpened":
          case "ConnectionClosed":
          case "FaultInjected":
          case "ProtocolViolation": {
            const { timestamp: _timestamp, ...rest } = event
            return { ...rest, time } as Dump.DumpEntry
          }
          default:
            return undefined
        }
      })

    const targets = (event: ServerEvent): Array<string> => {
      const connection = "connection" in event ? event.connection : undefined
      const clientId = clientIdOf(event)
      const out: Array<string> = []
      for (const template of config.dumps) {
        if (template.includes("{c}") && connection === undefined) continue
        if (template.includes("{id}") && clientId === undefined) continue
        out.push(
          config.dumpPrefix +
            template
              .replaceAll("{c}", String(connection))
              .replaceAll("{id}", clientId === undefined ? "" : safeName(clientId))
        )
      }
      return out
    }

    const open = (path: string): Effect.Effect<Fs.FileHandle, unknown> => {
      const handle = files.get(path)
      if (handle !== undefined) return Effect.succeed(handle)
      return Effect.tryPromise(() => Fs.mkdir(Path.dirname(path), { recursive: true })).pipe(
        Effect.andThen(Effect.tryPromise(() => Fs.open(path, "a"))),
        Effect.tap((opened) => Effect.sync(() => files.set(path, opened)))
      )
    }

    const append = (path: string, text: string) =>
      open(path).pipe(
        Effect.flatMap((handle) => Effect.tryPromise(() => handle.write(text))),
        Effect.catch((error) =>
          Effect.sync(() => {
            const cause = (error as { cause?: unknown }).cause ?? error
            if (!failed.has(path)) warn(`dump ${path}: ${message(cause)}`)
            failed.add(path)
          })
        )
      )

    const loop = Effect.gen(function* () {
      while (true) {
        const taken = yield* Effect.result(Queue.takeAll(queue))
        if (taken._tag === "Failure") return
        const batches = new Map<string, Array<string>>()
        for (const event of taken.success) {
          const paths = targets(event)
          if (paths.length === 0) continue
          const entry = yield* entryOf(event)
          if (entry === undefined) continue
          const line = Dump.encodeLine(entry)
          for (const path of paths) {
            const batch = batches.get(path)
            if (batch === undefined) batches.set(path, [line])
            else batch.push(line)
          }
        }
        // One write per file per batch: lines are never split or interleaved.
        for (const [path, lines] of batches) yield* append(path, `${lines.join("\n")}\n`)
      }
    })
    const fiber = yield* Effect.forkScoped(loop)

    let closed = false
    const close = Effect.suspend(() => {
      if (closed) return Fiber.await(fiber).pipe(Effect.asVoid)
      closed = true
      Queue.endUnsafe(queue)
      return Fiber.await(fiber).pipe(
        Effect.andThen(
          // The list is taken once the writer is done: it may have opened files while draining.
          Effect.suspend(() =>
            Effect.forEach(
              [...files.values()],
              (handle) =>
                Effect.promise(() => handle.sync().catch(() => undefined)).pipe(
                  Effect.andThen(Effect.promise(() => handle.close().catch(() => undefined)))
                ),
              { discard: true }
            )
          )
        ),
        Effect.andThen(Effect.sync(() => files.clear()))
      )
    })
    yield* Effect.addFinalizer(() => close)

    return {
      write: (event) => {
        if (!closed) Queue.offerUnsafe(queue, event)
      },
      close
    } satisfies Dumper
  })

/** The client id of an event, or of the CONNECT it carries. */
const clientIdOf = (event: ServerEvent): string | undefined => {
  if ("clientId" in event && event.clientId !== undefined) return event.clientId
  if (event._tag === "PacketReceived" && event.packet._tag === "Connect" && event.packet.clientId !== "") {
    return event.packet.clientId
  }
  return undefined
}
