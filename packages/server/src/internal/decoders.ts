/**
 * Payload decoders for dumps (`dumpDecode`): the built-in ones, external
 * commands (each in a process group of its own, killed whole on timeout or
 * stop, output capped), and functions.
 */
import { isUtf8 } from "node:buffer"
import * as ChildProcess from "node:child_process"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Dump from "../Dump.js"

const utf8 = new TextDecoder("utf-8", { fatal: true })
const liveClock = Clock.Clock.defaultValue()

/** Characters a JSON text can start with (after white space): `{ [ " - 0-9 t f n`. */
const jsonStart = /^[\s]*[[{"\-0-9tfn]/u

/**
 * A payload as text, and as JSON when it is JSON; undefined when it is not
 * UTF-8. (Profiled: a thrown parse error costs ≈ 6 µs, 60 times the decoding,
 * so bytes that cannot be UTF-8 or cannot start JSON are told apart first.)
 */
export const readable = (
  bytes: Uint8Array
): { readonly utf8: string; readonly json: Schema.Json | undefined } | undefined => {
  if (!isUtf8(bytes)) return undefined
  const text = utf8.decode(bytes)
  if (!jsonStart.test(text)) return { utf8: text, json: undefined }
  try {
    return { utf8: text, json: JSON.parse(text) as Schema.Json }
  } catch {
    return { utf8: text, json: undefined }
  }
}

export const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** The most a decoder command may write; beyond it the command is killed and the entry says so. */
const MAX_DECODER_OUTPUT = 1024 * 1024

/** Kills a decoder command and everything it started (it runs in a process group of its own). */
const killTree = (child: ChildProcess.ChildProcess) => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, "SIGKILL")
  } catch {
    child.kill("SIGKILL")
  }
}

/**
 * Runs an external decoder: payload on stdin, result on stdout (at most
 * 1 MiB). Interrupting it (the timeout, the server stopping) kills its whole
 * process group, so nothing it started is left running.
 */
const runCommand = (command: string, payload: Uint8Array): Effect.Effect<unknown, string> =>
  Effect.callback<unknown, string>((resume) => {
    const child = ChildProcess.spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"], detached: true })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    let size = 0
    const collect = (into: Array<Buffer>) => (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_DECODER_OUTPUT) {
        killTree(child)
        return resume(Effect.fail(`decoder output over ${MAX_DECODER_OUTPUT} bytes: not kept`))
      }
      into.push(chunk)
    }
    child.stdout!.on("data", collect(out))
    child.stderr!.on("data", collect(err))
    child.on("error", (error) => resume(Effect.fail(`cannot run decoder: ${error.message}`)))
    child.on("close", (code) => {
      // The command is done; anything it left behind in its group goes too.
      killTree(child)
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
    child.stdin!.on("error", () => {})
    child.stdin!.end(payload)
    return Effect.sync(() => killTree(child))
  })

export type Decoder = (payload: Uint8Array, context: Dump.DecodeContext) => Effect.Effect<unknown, string>

export const makeDecoder = (
  spec: Dump.DumpDecode | undefined,
  stopping: () => number | undefined
): Decoder | undefined => {
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
      Effect.suspend(() => {
        // Once the server stops, what is left gets until the stop deadline (real time), not a timeout each.
        const deadline = stopping()
        const left =
          deadline === undefined ? timeout : Math.min(timeout, deadline - liveClock.currentTimeMillisUnsafe())
        if (left <= 0) return Effect.fail("not decoded: the server was stopping")
        return runCommand(spec.command, payload).pipe(
          Effect.timeoutOrElse({
            duration: Duration.millis(left),
            orElse: () =>
              Effect.fail(
                left < timeout ? "not decoded: the server was stopping" : `decoder timed out after ${timeout} ms`
              )
          }),
          Effect.provideService(Clock.Clock, liveClock)
        )
      })
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
