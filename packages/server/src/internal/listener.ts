/**
 * Binds the first free port of a range (or port 0, the OS's choice).
 */
import * as NodeSocketServer from "@effect/platform-node-shared/NodeSocketServer"
import { Effect, Exit, Scope } from "effect"
import type * as SocketServer from "effect/socket/SocketServer"
import { ListenError } from "../ListenError.js"

const errorCode = (cause: unknown): string | undefined => {
  const inner = (cause as { reason?: { cause?: { code?: unknown } } })?.reason?.cause
  return typeof inner?.code === "string" ? inner.code : undefined
}

const errorMessage = (cause: unknown): string => {
  const inner = (cause as { reason?: { cause?: unknown } })?.reason?.cause
  return inner instanceof Error ? inner.message : String(inner ?? cause)
}

/**
 * Listens on `host` at the first port from `from` to `to` that binds. The
 * listener lives in `scope`; closing it closes the listener.
 */
export const listen = (
  host: string,
  from: number,
  to: number,
  scope: Scope.Scope
): Effect.Effect<SocketServer.SocketServer["Service"], ListenError> =>
  Effect.gen(function* () {
    let lastError = "no port tried"
    for (let port = from; port <= to; port++) {
      const attempt = yield* Scope.fork(scope)
      const exit = yield* NodeSocketServer.make({ host, port }).pipe(Scope.provide(attempt), Effect.exit)
      if (Exit.isSuccess(exit)) return exit.value
      yield* Scope.close(attempt, Exit.void)
      const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
      const cause = failure?._tag === "Fail" ? failure.error : exit.cause
      lastError = errorMessage(cause)
      const code = errorCode(cause)
      // Only a port that is taken (or reserved) moves on to the next one.
      if (code !== "EADDRINUSE" && code !== "EACCES") break
    }
    return yield* new ListenError({ host, from, to, lastError })
  })
