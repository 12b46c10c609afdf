/**
 * A connection's duplex stream as `effect/socket`'s reader and writer, made
 * for a server with many short or idle connections: one object per
 * connection, its listeners attached once, and one `SocketError` only when
 * the stream ends (the platform's `NodeSocket.fromDuplex` builds a latch, a
 * scope and a dozen closures per socket, and two or three errors per close:
 * ≈ 30 µs and 3 KiB per connection, measured with --cpu-prof and heap
 * snapshots — see PERFORMANCE.md).
 *
 * Reads are pulls of what the stream has buffered (it stays paused, so a
 * reader that stops pulling closes the TCP window: backpressure end to end);
 * writes wait for `drain` when the stream's buffer is full.
 */
import type { Duplex } from "node:stream"
import type * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Socket from "effect/socket/Socket"

type Chunks = Arr.NonEmptyReadonlyArray<Uint8Array | string>
type Resume = (effect: Effect.Effect<Chunks, Socket.SocketError>) => void

const closeError = (code: number) => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })
const writeError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause }) })

export class Wire {
  /** The pull waiting for bytes. */
  private waiter: Resume | undefined = undefined
  /** Why no more bytes come: the end of the stream (code 1000), or an error (1006). */
  private ended: { readonly code: number; readonly cause?: unknown } | undefined = undefined
  private readonly onReadable = () => this.deliver()
  private readonly onEnd = () => this.end(1000)
  private readonly onError = (cause: unknown) => this.end(1006, cause)
  private readonly onClose = (hadError: boolean) => this.end(hadError ? 1006 : 1000)

  constructor(private readonly duplex: Duplex) {
    duplex.pause()
    duplex.on("readable", this.onReadable)
    duplex.on("end", this.onEnd)
    duplex.on("error", this.onError)
    duplex.on("close", this.onClose)
  }

  /**
   * The next bytes: what the stream has buffered, or the next that come. At
   * the end of the stream, a `SocketError` whose reason is a
   * `SocketCloseError`: code 1000 when the client closed it, 1006 on an
   * error (as `effect/socket` readers say it).
   */
  readonly pull: Effect.Effect<Chunks, Socket.SocketError> = Effect.callback<Chunks, Socket.SocketError>((resume) => {
    const chunk = this.read()
    if (chunk !== undefined) return resume(Effect.succeed([chunk]))
    if (this.ended !== undefined) return resume(Effect.fail(this.endError()))
    this.waiter = resume
    return Effect.sync(() => {
      if (this.waiter === resume) this.waiter = undefined
    })
  })

  /** Writes chunks in one go (corked), then waits while the stream's buffer is full. */
  writeAll(chunks: Arr.NonEmptyReadonlyArray<Uint8Array | string>): Effect.Effect<void, Socket.SocketError> {
    const duplex = this.duplex
    let full = false
    try {
      if (chunks.length === 1) full = !duplex.write(chunks[0])
      else {
        duplex.cork()
        try {
          for (const chunk of chunks) full = !duplex.write(chunk) || full
        } finally {
          duplex.uncork()
        }
      }
    } catch (cause) {
      return Effect.fail(writeError(cause))
    }
    return full ? this.drained : Effect.void
  }

  /** Completes once a full write buffer has drained; fails when the stream errs or closes first. */
  private readonly drained: Effect.Effect<void, Socket.SocketError> = Effect.callback<void, Socket.SocketError>(
    (resume) => {
      const duplex = this.duplex
      const cleanup = () => {
        duplex.off("drain", onDrain)
        duplex.off("error", onError)
        duplex.off("close", onClose)
      }
      const onDrain = () => {
        cleanup()
        resume(Effect.void)
      }
      const onError = (cause: unknown) => {
        cleanup()
        resume(Effect.fail(writeError(cause)))
      }
      const onClose = () => onError(new Error("socket closed"))
      duplex.on("drain", onDrain)
      duplex.on("error", onError)
      duplex.on("close", onClose)
      return Effect.sync(cleanup)
    }
  )

  /** Stops listening to the stream; a pull still waiting ends as if the stream had closed. */
  detach(): void {
    this.end(1006)
    const duplex = this.duplex
    duplex.off("readable", this.onReadable)
    duplex.off("end", this.onEnd)
    duplex.off("error", this.onError)
    duplex.off("close", this.onClose)
  }

  private read(): Uint8Array | string | undefined {
    if (this.ended !== undefined && this.ended.code !== 1000) return undefined
    const chunk: Uint8Array | string | null = this.duplex.read()
    return chunk === null ? undefined : chunk
  }

  private endError(): Socket.SocketError {
    const ended = this.ended!
    return ended.cause === undefined
      ? closeError(ended.code)
      : new Socket.SocketError({ reason: new Socket.SocketReadError({ cause: ended.cause }) })
  }

  private end(code: number, cause?: unknown): void {
    this.ended ??= cause === undefined ? { code } : { code, cause }
    this.deliver()
  }

  /** Hands bytes (or the end) to the waiting pull. */
  private deliver(): void {
    const resume = this.waiter
    if (resume === undefined) return
    const chunk = this.read()
    if (chunk !== undefined) {
      this.waiter = undefined
      resume(Effect.succeed([chunk]))
    } else if (this.ended !== undefined) {
      this.waiter = undefined
      resume(Effect.fail(this.endError()))
    }
  }
}
