/**
 * Writes server events to the dump files. The server hands every event over
 * synchronously (nothing is dropped, whatever the load); one fiber turns
 * them into lines, in order, decodes payloads, and appends whole lines to
 * each target file, opened once. Closing drains everything and syncs the
 * files before it completes.
 */

import { constants as FsConstants } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Config from "../Config.js"
import * as Dump from "../Dump.js"
import * as Pcap from "../Pcap.js"
import type { ServerEvent } from "../ServerEvent.js"
import { makeDecoder, message, readable } from "./decoders.js"

export interface Dumper {
  readonly write: (event: ServerEvent) => void
  /**
   * Completes once every event handed over so far is written to its files
   * (to the OS: it survives the server being killed). The connection loop
   * waits for it before writing an acknowledgement to a socket, so whatever a
   * client gets an acknowledgement for is in the dump first.
   */
  readonly flushed: Effect.Effect<void>
  /** More than `MAX_LAG` events wait to be written: readers stop reading until `flushed`. */
  readonly lagging: () => boolean
  /** Writes everything handed over so far, syncs and closes the files. */
  readonly close: Effect.Effect<void>
}

const liveClock = Clock.Clock.defaultValue()

/** Payloads decoded at the same time (decoders run in parallel; the lines keep their order). */
const DECODE_CONCURRENCY = 4
/**
 * Events waiting to be written at most (about): beyond it the connections stop reading until the
 * dump has caught up, so the queue between the server and the dump files stays bounded.
 */
const MAX_LAG = 2_000
/**
 * Events turned into lines and written in one go at most: the text of a batch stays small (taking
 * everything queued made one string of all of it: 370 MB peak RSS in the bench's fan-in with a dump).
 */
const BATCH = 1000
/** Real time that decoders still running get once the dump closes. */
const STOP_BUDGET_MS = 1000
const isJson = Schema.is(Schema.Json)

export const make = (
  config: Config.Resolved,
  warn: (message: string) => void
): Effect.Effect<Dumper | undefined, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (config.dumps.length === 0 && config.pcap === undefined) return undefined
    // The capture (`pcap`) takes the same entries as the dump files, in the same writes.
    const pcapPath = config.pcap === undefined ? undefined : config.dumpPrefix + config.pcap
    const capture = pcapPath === undefined ? undefined : Pcap.writer()
    let captureStarted = false
    // Bounded by policy: connections stop reading while more than MAX_LAG events wait (`lagging`), and
    // write nothing to a socket before the dump has every earlier event (`flushed`).
    const queue = yield* Queue.unbounded<ServerEvent, Cause.Done>()
    // Set when the dump closes: decoders still running get until then (real time).
    let stopDeadline: number | undefined
    const decoder = makeDecoder(config.dumpDecode, () => stopDeadline)
    const concurrentDecoding = typeof config.dumpDecode === "object"
    const files = new Map<string, Fs.FileHandle>()
    const failed = new Set<string>()

    type Decoded = Pick<Dump.Payload, "decoded" | "decodeError">

    /** What the configured decoder makes of a PUBLISH payload (the only effectful part of an entry). */
    const decodedOf = (event: ServerEvent): Effect.Effect<Decoded | undefined> => {
      if (decoder === undefined || (event._tag !== "PacketReceived" && event._tag !== "PacketSent")) {
        return Effect.succeed(undefined)
      }
      const { packet } = event
      if (packet._tag !== "Publish") return Effect.succeed(undefined)
      const context = { topic: packet.topic, connection: event.connection, clientId: clientIdOf(event) }
      return Effect.map(
        Effect.result(decoder(packet.payload, context)),
        (result): Decoded =>
          result._tag === "Failure"
            ? { decodeError: result.failure }
            : isJson(result.success)
              ? { decoded: result.success }
              : { decodeError: "decoder returned a value that is not JSON" }
      )
    }

    const payloadOf = (payload: Uint8Array, decoded: Decoded | undefined): Dump.Payload => {
      const out: { -readonly [K in keyof Dump.Payload]: Dump.Payload[K] } = { length: payload.length }
      // Not UTF-8, or not JSON: those fields stay out.
      const text = readable(payload)
      if (text !== undefined) out.utf8 = text.utf8
      if (text?.json !== undefined) out.json = text.json
      return decoded === undefined ? out : { ...out, ...decoded }
    }

    /** The dump entry of an event (synchronous: decoding happened before), or undefined for events dumps leave out. */
    const entryOf = (event: ServerEvent, decoded: Decoded | undefined): Dump.DumpEntry | undefined => {
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
            ...(packet._tag === "Publish" ? { payload: payloadOf(packet.payload, decoded) } : {})
          } satisfies Dump.DumpEntry
        }
        case "ConnectionOpened":
        case "ConnectionClosed":
        case "FaultInjected":
        case "ProtocolViolation":
        case "AuthStep": {
          const { timestamp: _timestamp, ...rest } = event
          return { ...rest, time } as Dump.DumpEntry
        }
        default:
          return undefined
      }
    }

    // The files every event goes to (templates without {c} and {id}), worked out once.
    const fixed = config.dumps
      .filter((t) => !t.includes("{c}") && !t.includes("{id}"))
      .map((t) => config.dumpPrefix + t)
    const templated = config.dumps.filter((t) => t.includes("{c}") || t.includes("{id}"))
    const targets = (event: ServerEvent): Array<string> => {
      if (templated.length === 0) return fixed
      const connection = "connection" in event ? event.connection : undefined
      const clientId = clientIdOf(event)
      const out: Array<string> = [...fixed]
      for (const template of templated) {
        if (template.includes("{c}") && connection === undefined) continue
        if (template.includes("{id}") && clientId === undefined) continue
        out.push(
          config.dumpPrefix +
            template
              .replaceAll("{c}", String(connection))
              .replaceAll("{id}", clientId === undefined ? "" : Dump.fileNameOf(clientId))
        )
      }
      return out
    }

    // Events handed over and written so far, and who waits for them to be written.
    let handed = 0
    let written = 0
    const waiting: Array<{ readonly upTo: number; readonly resume: () => void }> = []
    const wake = () => {
      while (waiting.length > 0 && waiting[0]!.upTo <= written) waiting.shift()!.resume()
    }
    const flushed = Effect.suspend(() => {
      const upTo = handed
      if (written >= upTo || closedDone) return Effect.void
      return Effect.callback<void>((resume) => {
        waiting.push({ upTo, resume: () => resume(Effect.void) })
      })
    })
    let closedDone = false

    // Which connections of each client id are open, to know when an {id} file is no longer written.
    const openById = new Map<string, Set<number>>()
    const idOf = new Map<number, string>()
    const perConnection = templated
    /** Follows connections; adds to `ended` the per-connection files that an event ends. */
    const track = (event: ServerEvent, ended: Array<string>) => {
      if (!("connection" in event) || event.connection === undefined || perConnection.length === 0) return
      const connection = event.connection
      const clientId = clientIdOf(event)
      if (clientId !== undefined && !idOf.has(connection) && event._tag !== "ConnectionClosed") {
        idOf.set(connection, clientId)
        const open = openById.get(clientId)
        if (open === undefined) openById.set(clientId, new Set([connection]))
        else open.add(connection)
      }
      if (event._tag !== "ConnectionClosed") return
      const id = idOf.get(connection)
      idOf.delete(connection)
      const stillOpen = id === undefined ? undefined : openById.get(id)
      stillOpen?.delete(connection)
      if (id !== undefined && stillOpen?.size === 0) openById.delete(id)
      for (const template of perConnection) {
        if (template.includes("{id}") && (id === undefined || (stillOpen?.size ?? 0) > 0)) continue
        ended.push(
          config.dumpPrefix +
            template
              .replaceAll("{c}", String(connection))
              .replaceAll("{id}", id === undefined ? "" : Dump.fileNameOf(id))
        )
      }
    }

    const open = (path: string): Effect.Effect<Fs.FileHandle, unknown> => {
      const handle = files.get(path)
      if (handle !== undefined) return Effect.succeed(handle)
      // Owner-only (dumps hold passwords), and never through a symbolic link someone planted.
      const flags = FsConstants.O_WRONLY | FsConstants.O_APPEND | FsConstants.O_CREAT | FsConstants.O_NOFOLLOW
      return Effect.tryPromise(() => Fs.mkdir(Path.dirname(path), { recursive: true, mode: 0o700 })).pipe(
        Effect.andThen(Effect.tryPromise(() => Fs.open(path, flags, 0o600))),
        Effect.tap((opened) => Effect.sync(() => files.set(path, opened)))
      )
    }

    const append = (path: string, text: string | Uint8Array) =>
      open(path).pipe(
        Effect.flatMap((handle) =>
          Effect.tryPromise(
            (): Promise<unknown> => (typeof text === "string" ? handle.write(text) : handle.write(text))
          )
        ),
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
        const taken = yield* Effect.result(Queue.takeBetween(queue, 1, BATCH))
        if (taken._tag === "Failure") {
          // The capture's last comments (after their connection's last packet).
          const last = capture?.end()
          if (pcapPath !== undefined && last !== undefined && last.length > 0) yield* append(pcapPath, last)
          closedDone = true
          for (const waiter of waiting.splice(0)) waiter.resume()
          return
        }
        const batches = new Map<string, Array<string>>()
        const targeted = taken.success.map((event) => [event, targets(event)] as const)
        // Decoder commands run a few at a time (the lines keep the order of the events); without a
        // decoder no effect runs per entry.
        const decodings =
          decoder === undefined
            ? undefined
            : yield* Effect.forEach(
                targeted,
                ([event, paths]) => (paths.length === 0 ? Effect.succeed(undefined) : decodedOf(event)),
                { concurrency: concurrentDecoding ? DECODE_CONCURRENCY : 1 }
              )
        const ended: Array<string> = []
        const captured: Array<Uint8Array> = []
        if (capture !== undefined && !captureStarted) {
          captureStarted = true
          captured.push(capture.header())
        }
        for (let i = 0; i < targeted.length; i++) {
          const [event, paths] = targeted[i]!
          track(event, ended)
          const entry = paths.length === 0 && capture === undefined ? undefined : entryOf(event, decodings?.[i])
          if (entry === undefined) continue
          if (capture !== undefined) captured.push(capture.push(entry))
          const line = Dump.encodeLine(entry)
          for (const path of paths) {
            const batch = batches.get(path)
            if (batch === undefined) batches.set(path, [line])
            else batch.push(line)
          }
        }
        // One write per file per batch: lines are never split or interleaved.
        for (const [path, lines] of batches) yield* append(path, `${lines.join("\n")}\n`)
        if (pcapPath !== undefined && captured.some((bytes) => bytes.length > 0)) {
          yield* append(pcapPath, Buffer.concat(captured))
        }
        // The file of a connection that ended (or of a client id none of whose connections is open) is
        // closed: file descriptors do not grow with the connections; a later line reopens it for append.
        for (const path of ended) {
          const handle = files.get(path)
          if (handle === undefined) continue
          files.delete(path)
          yield* Effect.promise(() => handle.close().catch(() => undefined))
        }
        written += taken.success.length
        wake()
      }
    })
    const fiber = yield* Effect.forkScoped(loop)

    let closed = false
    const close = Effect.suspend(() => {
      if (closed) return Fiber.await(fiber).pipe(Effect.asVoid)
      closed = true
      stopDeadline = liveClock.currentTimeMillisUnsafe() + STOP_BUDGET_MS
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
        if (closed) return
        handed++
        Queue.offerUnsafe(queue, event)
      },
      flushed,
      lagging: () => handed - written > MAX_LAG,
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
