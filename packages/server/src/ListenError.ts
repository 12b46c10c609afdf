/**
 * The server could not listen on any port of its range.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * No port from `from` to `to` could be bound on `host` (or, with `path`, no
 * Unix domain socket at that path); `lastError` is the operating system's
 * last answer.
 * @since 0.1.0
 */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  host: Schema.String,
  from: Schema.Int,
  to: Schema.Int,
  lastError: Schema.String,
  path: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    if (this.path !== undefined) return `cannot listen on the Unix socket ${this.path}: ${this.lastError}`
    const ports = this.from === this.to ? `port ${this.from}` : `any port from ${this.from} to ${this.to}`
    return `cannot listen on ${this.host} at ${ports}: ${this.lastError}`
  }
}

/**
 * A command named a connection that is not open.
 * @since 0.1.0
 */
export class ConnectionNotFound extends Schema.TaggedError<ConnectionNotFound>()("ConnectionNotFound", {
  connection: Schema.Int
}) {
  override get message(): string {
    return `connection ${this.connection} is not open`
  }
}

/**
 * `waitFor` with a `timeout` saw no matching event in time; `predicate`
 * describes what it waited for.
 * @since 0.1.0
 */
export class WaitForTimeout extends Schema.TaggedError<WaitForTimeout>()("WaitForTimeout", {
  predicate: Schema.String,
  timeout: Schema.Number
}) {
  override get message(): string {
    return `no event matched ${this.predicate} within ${this.timeout} ms`
  }
}

/**
 * A command with an argument the server refuses (a topic name with a
 * wildcard, a DISCONNECT reason code a server may not send, …); `problem`
 * says what is accepted.
 * @since 0.1.0
 */
export class CommandError extends Schema.TaggedError<CommandError>()("CommandError", {
  command: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `${this.command}: ${this.problem}`
  }
}
