/**
 * Writing to stdout and stderr: a full pipe slows the writer down, nothing
 * is lost; colours only on a terminal.
 */
import * as Effect from "effect/Effect"

/** Waits until a full pipe has room again. */
const drained = (stream: NodeJS.WritableStream) =>
  Effect.callback<void>((resume) => {
    const onDrain = () => resume(Effect.void)
    stream.once("drain", onDrain)
    return Effect.sync(() => void stream.off("drain", onDrain))
  })
/**
 * Writes a stdout line at once, then waits while the pipe is full (a slow reader slows the writer,
 * nothing is lost); `wait` runs that wait (e.g. interruptibly, in an uninterruptible answer).
 */
export const writeOut = (
  line: string,
  wait: (effect: Effect.Effect<void>) => Effect.Effect<void> = (effect) => effect
) => Effect.suspend(() => (process.stdout.write(`${line}\n`) ? Effect.void : wait(drained(process.stdout))))
export const writeErr = (line: string) =>
  Effect.suspend(() => (process.stderr.write(`mqttest: ${line}\n`) ? Effect.void : drained(process.stderr)))

/** Colours on a terminal, unless NO_COLOR is set (https://no-color.org). */
export const colorful = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY === true && (process.env.NO_COLOR === undefined || process.env.NO_COLOR === "")
