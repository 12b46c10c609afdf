/**
 * A run as a picture: one self-contained HTML file (no network access, no
 * external scripts or fonts) with a sequence diagram — the server's lifeline
 * and one per connection, every packet an arrow in time order with its key
 * fields, faults and protocol violations marked on the arrow they affected,
 * gaps on a time axis (compressed or real), filters (connection, client id,
 * packet type, time window) and the whole decoded packet on a click. Only
 * the rows on screen are drawn, so a dump of tens of thousands of packets
 * stays responsive.
 *
 * From a dump (`fromDump`, `mqttest view`), from events (`html`), or from a
 * running server's recent events (`write`, `onFailure`: a failed test's
 * traffic as a CI artifact).
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Dump from "./Dump.js"
import { page } from "./internal/viewPage.js"
import { MqttServer } from "./MqttServer.js"
import type * as ServerEvent from "./ServerEvent.js"
import { summary } from "./Timeline.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The page's title (default: "mqttest run"). */
  readonly title?: string | undefined
}

/**
 * An HTML file that could not be written: its path and why.
 * @since 0.1.0
 */
export class ViewWriteError extends Schema.TaggedError<ViewWriteError>()("ViewWriteError", {
  path: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.problem}`
  }
}

/** Bytes of one payload (or other binary field) shown in full; the rest is counted. */
const SHOWN_BYTES = 16 * 1024

/** Binary fields as text when they are UTF-8, else as hex; both cut at `SHOWN_BYTES`. */
const readable = (value: unknown): unknown => {
  if (value instanceof Uint8Array) {
    const shown = value.subarray(0, SHOWN_BYTES)
    const cut = value.length > SHOWN_BYTES ? { omitted: value.length - SHOWN_BYTES } : {}
    try {
      return { bytes: value.length, utf8: new TextDecoder("utf-8", { fatal: true }).decode(shown), ...cut }
    } catch {
      return { bytes: value.length, hex: Buffer.from(shown).toString("hex"), ...cut }
    }
  }
  if (Array.isArray(value)) return value.map(readable)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) out[key] = readable(item)
  return out
}

/** One row of the diagram, as the page's script reads it. */
interface Item {
  /** Milliseconds since the first event. */
  readonly t: number
  readonly c?: number
  readonly id?: string
  /** in, out (packets); open, close, fault, violation, auth, warning (notes). */
  readonly k: string
  /** The packet type (CONNECT, PUBLISH, …) of a packet. */
  readonly p?: string
  readonly s: string
  /** Faults and violations that affected this packet. */
  m?: Array<string>
  /** The whole event. */
  readonly d: unknown
}

const kindOf = (event: ServerEvent.ServerEvent): string | undefined => {
  switch (event._tag) {
    case "PacketReceived":
      return "in"
    case "PacketSent":
      return "out"
    case "ConnectionOpened":
      return "open"
    case "ConnectionClosed":
      return "close"
    case "FaultInjected":
      return "fault"
    case "ProtocolViolation":
      return "violation"
    case "AuthStep":
      return "auth"
    case "Warning":
      return "warning"
    default:
      return undefined
  }
}

const noteOf = (event: ServerEvent.ServerEvent): string => {
  switch (event._tag) {
    case "ConnectionOpened":
      return `opened from ${event.remoteAddress}:${event.remotePort}${event.transport !== undefined ? ` (${event.transport})` : ""}`
    case "ConnectionClosed":
      return `closed: ${event.reason}${event.willPublished ? " (will published)" : ""}`
    case "FaultInjected":
      return `${event.fault}: ${event.detail}`
    case "ProtocolViolation":
      return `${event.message}${event.spec !== undefined ? ` [${event.spec}]` : ""}`
    case "AuthStep":
      return `${event.method} step ${event.step}: ${event.answer}`
    case "Warning":
      return `${event.message}${event.spec !== undefined ? ` [${event.spec}]` : ""}`
    default:
      return event._tag
  }
}

/**
 * The diagram's rows. A protocol violation marks the packet of its
 * connection received just before it (the one that broke the rule); a fault
 * marks its connection's next packet (faults are reported as the server acts
 * on that packet), or the last one when none follows. Each stays a note row
 * of its own too.
 */
/** Adds marks to a packet's row. */
const mark = (target: Item | undefined, marks: ReadonlyArray<string>): void => {
  if (target === undefined || marks.length === 0) return
  target.m = [...(target.m ?? []), ...marks]
}

/**
 * What a dump's `dumpDecode` made of a PUBLISH payload (its entry's `payload.decoded` or
 * `decodeError`), kept with the event read from that entry: shown with the packet.
 */
const decodedPayloads = new WeakMap<ServerEvent.ServerEvent, unknown>()

const eventOf = (entry: Dump.DumpEntry): ServerEvent.ServerEvent => {
  const event = Dump.toEvent(entry)
  if (entry._tag === "Packet" && entry.payload !== undefined) {
    const { decoded, decodeError } = entry.payload
    if (decoded !== undefined) decodedPayloads.set(event, decoded)
    else if (decodeError !== undefined) decodedPayloads.set(event, { decodeError })
  }
  return event
}

const itemsOf = (events: Iterable<ServerEvent.ServerEvent>): Array<Item> => {
  const items: Array<Item> = []
  const lastIn = new Map<number, Item>()
  const lastPacket = new Map<number, Item>()
  const waiting = new Map<number, Array<string>>()
  let start: number | undefined
  for (const event of events) {
    const k = kindOf(event)
    if (k === undefined) continue
    start ??= event.timestamp
    const c = "connection" in event ? event.connection : undefined
    const id = "clientId" in event ? event.clientId : undefined
    const { timestamp, ...rest } = event
    const decoded = decodedPayloads.get(event)
    const d = readable({ time: Dump.formatTime(timestamp), ...rest, ...(decoded !== undefined ? { decoded } : {}) })
    const base = { t: timestamp - start, ...(c !== undefined ? { c } : {}), ...(id !== undefined ? { id } : {}), k, d }
    if (event._tag === "PacketReceived" || event._tag === "PacketSent") {
      const item: Item = { ...base, p: event.packet._tag.toUpperCase(), s: summary(event.packet) }
      const marks = waiting.get(event.connection)
      if (marks !== undefined) {
        item.m = marks
        waiting.delete(event.connection)
      }
      lastPacket.set(event.connection, item)
      if (k === "in") lastIn.set(event.connection, item)
      items.push(item)
      continue
    }
    const text = noteOf(event)
    items.push({ ...base, s: text })
    if (c === undefined) continue
    if (k === "violation") {
      mark(lastIn.get(c), [`✖ ${text}`])
    } else if (k === "fault") {
      const marks = waiting.get(c) ?? []
      marks.push(`⚡ ${text}`)
      waiting.set(c, marks)
    } else if (k === "close") {
      // Faults with no packet after them mark the connection's last packet.
      mark(lastPacket.get(c), waiting.get(c) ?? [])
      waiting.delete(c)
    }
  }
  for (const [c, marks] of waiting) mark(lastPacket.get(c), marks)
  return items
}

/**
 * Events as one self-contained HTML page (see the module's description).
 * Client ids, topics and payloads are data the page's script writes as text,
 * never as markup.
 * @since 0.1.0
 */
export const html = (events: Iterable<ServerEvent.ServerEvent>, options: Options = {}): string => {
  const collected = [...events]
  const first = collected.find((event) => kindOf(event) !== undefined)
  const model = {
    title: options.title ?? "mqttest run",
    start: first === undefined ? undefined : Dump.formatTime(first.timestamp),
    items: itemsOf(collected)
  }
  // `<` escaped: no client-sent text can close the data's script element.
  return page(model.title, JSON.stringify(model).replace(/</g, "\\u003c"))
}

const writeFile = (path: string, text: string): Effect.Effect<void, ViewWriteError> =>
  Effect.try({
    try: () => {
      Fs.mkdirSync(Path.dirname(path), { recursive: true })
      Fs.writeFileSync(path, text)
    },
    catch: (error) => new ViewWriteError({ path, problem: error instanceof Error ? error.message : String(error) })
  })

/**
 * Reads a dump and writes it as an HTML sequence diagram.
 * @since 0.1.0
 */
export const fromDump = (
  dump: string,
  out: string,
  options: Options = {}
): Effect.Effect<void, Dump.DumpReadError | ViewWriteError> =>
  Stream.runCollect(Stream.map(Dump.read(dump), eventOf)).pipe(
    Effect.flatMap((events) => writeFile(out, html(events, { title: options.title ?? Path.basename(dump) })))
  )

/**
 * Writes the server's recent events (its event buffer: `eventBufferSize`,
 * 1000 by default) as an HTML sequence diagram, creating the folder.
 * @since 0.1.0
 */
export const write = (path: string, options: Options = {}): Effect.Effect<void, ViewWriteError, MqttServer> =>
  Effect.gen(function* () {
    const server = yield* MqttServer
    const events = yield* server.recentEvents
    yield* writeFile(path, html(events, options))
  })

/**
 * Runs an effect (a test) and, when it fails, writes the server's recent
 * events to `path` before failing as it would have: the failed test's
 * traffic as a picture, e.g. for a CI artifact. A view that cannot be
 * written does not hide the test's own failure.
 * @since 0.1.0
 */
export const onFailure =
  (path: string, options: Options = {}) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | MqttServer> =>
    Effect.onError(self, () => Effect.ignore(write(path, options)))
