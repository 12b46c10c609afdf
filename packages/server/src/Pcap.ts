/**
 * A dump as a capture file that Wireshark and tshark decode as MQTT: pcapng
 * with raw IPv4 frames (link type 101), each packet of the dump re-encoded
 * as the payload of one TCP segment between the client's address and port
 * and the server's port 1883 (where the MQTT dissector listens), with
 * sequence and acknowledgement numbers that follow each connection's bytes,
 * and the dump's timestamps. Faults and protocol violations are packet
 * comments (on the connection's next packet; those after its last packet on
 * an empty TCP segment when it closes).
 *
 * Synthesised TCP/IP rather than exported PDUs: every Wireshark version
 * decodes it, it shows one conversation per connection, and the bytes are
 * exactly what the server's encoder writes (MQTT 5 properties included).
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import { Encoder } from "@mqttest/codec"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Dump from "./Dump.js"

const SERVER_PORT = 1883
const SERVER_ADDRESS = [127, 0, 0, 1] as const

interface Side {
  readonly address: ReadonlyArray<number>
  readonly port: number
  seq: number
}

interface Conversation {
  readonly client: Side
  readonly server: Side
  level: 3 | 4 | 5
}

interface Frame {
  readonly micros: bigint
  readonly bytes: Uint8Array
  readonly comments: ReadonlyArray<string>
}

/** The time of a dump entry in microseconds since the epoch. */
const microsOf = (time: string): bigint =>
  BigInt(Date.parse(`${time.slice(0, 19)}Z`)) * 1000n + BigInt(Number(time.slice(20, 26)))

const ipv4 = (address: string): ReadonlyArray<number> | undefined => {
  const parts = address
    .replace(/^::ffff:/, "")
    .split(".")
    .map(Number)
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255) ? parts : undefined
}

const checksum = (bytes: Uint8Array): number => {
  let sum = 0
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** An IPv4 packet holding one TCP segment (PSH, ACK) with `payload`. */
const segment = (from: Side, to: Side, payload: Uint8Array, id: number): Uint8Array => {
  const packet = new Uint8Array(40 + payload.length)
  const view = new DataView(packet.buffer)
  view.setUint8(0, 0x45)
  view.setUint16(2, packet.length)
  view.setUint16(4, id & 0xffff)
  view.setUint16(6, 0x4000)
  view.setUint8(8, 64)
  view.setUint8(9, 6)
  packet.set(from.address, 12)
  packet.set(to.address, 16)
  view.setUint16(10, checksum(packet.subarray(0, 20)))
  view.setUint16(20, from.port)
  view.setUint16(22, to.port)
  view.setUint32(24, from.seq >>> 0)
  view.setUint32(28, to.seq >>> 0)
  view.setUint8(32, 5 << 4)
  view.setUint8(33, 0x18)
  view.setUint16(34, 65535)
  packet.set(payload, 40)
  // The TCP checksum over the pseudo-header, the header and the payload.
  const pseudo = new Uint8Array(12 + 20 + payload.length)
  pseudo.set(from.address, 0)
  pseudo.set(to.address, 4)
  pseudo[9] = 6
  new DataView(pseudo.buffer).setUint16(10, 20 + payload.length)
  pseudo.set(packet.subarray(20), 12)
  view.setUint16(36, checksum(pseudo))
  from.seq = (from.seq + payload.length) >>> 0
  return packet
}

const pad4 = (n: number) => (4 - (n % 4)) % 4

/** A pcapng block: type, body, total length at both ends. */
const block = (type: number, body: Uint8Array): Uint8Array => {
  const length = 12 + body.length + pad4(body.length)
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  view.setUint32(0, type, true)
  view.setUint32(4, length, true)
  out.set(body, 8)
  view.setUint32(length - 4, length, true)
  return out
}

const sectionHeader = (): Uint8Array => {
  const body = new Uint8Array(16)
  const view = new DataView(body.buffer)
  view.setUint32(0, 0x1a2b3c4d, true)
  view.setUint16(4, 1, true)
  view.setBigInt64(8, -1n, true)
  return block(0x0a0d0d0a, body)
}

/** One interface: raw IP (link type 101), microsecond timestamps (the default). */
const interfaceDescription = (): Uint8Array => {
  const body = new Uint8Array(8)
  new DataView(body.buffer).setUint16(0, 101, true)
  return block(1, body)
}

const enhancedPacket = (frame: Frame): Uint8Array => {
  const options: Array<Uint8Array> = []
  for (const comment of frame.comments) {
    const text = new TextEncoder().encode(comment)
    const option = new Uint8Array(4 + text.length + pad4(text.length))
    new DataView(option.buffer).setUint16(0, 1, true)
    new DataView(option.buffer).setUint16(2, text.length, true)
    option.set(text, 4)
    options.push(option)
  }
  if (options.length > 0) options.push(new Uint8Array(4))
  const dataLength = frame.bytes.length + pad4(frame.bytes.length)
  const body = new Uint8Array(20 + dataLength + options.reduce((n, o) => n + o.length, 0))
  const view = new DataView(body.buffer)
  view.setUint32(4, Number(frame.micros >> 32n), true)
  view.setUint32(8, Number(frame.micros & 0xffffffffn), true)
  view.setUint32(12, frame.bytes.length, true)
  view.setUint32(16, frame.bytes.length, true)
  body.set(frame.bytes, 20)
  let at = 20 + dataLength
  for (const option of options) {
    body.set(option, at)
    at += option.length
  }
  return block(6, body)
}

/**
 * A capture written as the run goes: `header` first, then the bytes `push`
 * returns for each dump entry, then `end`. A fault or violation becomes a
 * comment on its connection's next packet; those left when the connection
 * closes (or at the end) go on an empty TCP segment of that connection.
 * @since 0.1.0
 */
export interface Writer {
  readonly header: () => Uint8Array
  readonly push: (entry: Dump.DumpEntry) => Uint8Array
  readonly end: () => Uint8Array
}

const empty = new Uint8Array(0)

/** @since 0.1.0 */
export const writer = (): Writer => {
  const conversations = new Map<number, Conversation>()
  const pending = new Map<number, { readonly micros: bigint; readonly comments: Array<string> }>()
  let id = 0
  const conversationOf = (connection: number, address?: string, port?: number): Conversation => {
    const known = conversations.get(connection)
    if (known !== undefined) return known
    const ip = address === undefined ? undefined : ipv4(address)
    const conversation: Conversation = {
      // A client without an IPv4 address (memory, Unix socket, IPv6) gets 10.0.x.y from its number.
      client: {
        address: ip ?? [10, 0, (connection >> 8) & 0xff, connection & 0xff],
        port: ip !== undefined && port !== undefined && port > 0 ? port : 10000 + (connection % 50000),
        seq: 1000
      },
      server: { address: SERVER_ADDRESS, port: SERVER_PORT, seq: 5000 },
      level: 4
    }
    conversations.set(connection, conversation)
    return conversation
  }
  /** The comments still waiting on a connection, on an empty segment from the server. */
  const flush = (connection: number): Uint8Array => {
    const waiting = pending.get(connection)
    pending.delete(connection)
    const conversation = conversations.get(connection)
    if (waiting === undefined || conversation === undefined) return empty
    const bytes = segment(conversation.server, conversation.client, empty, ++id)
    return enhancedPacket({ micros: waiting.micros, bytes, comments: waiting.comments })
  }
  const push = (entry: Dump.DumpEntry): Uint8Array => {
    switch (entry._tag) {
      case "ConnectionOpened":
        conversationOf(entry.connection, entry.remoteAddress, entry.remotePort)
        return empty
      case "Packet": {
        const conversation = conversationOf(entry.connection)
        if (entry.packet._tag === "Connect") conversation.level = entry.packet.protocolLevel
        const encoded = Encoder.encode(entry.packet, conversation.level)
        if (encoded._tag === "Failure") return empty
        const [from, to] =
          entry.direction === "in"
            ? [conversation.client, conversation.server]
            : [conversation.server, conversation.client]
        const comments = pending.get(entry.connection)?.comments ?? []
        pending.delete(entry.connection)
        return enhancedPacket({
          micros: microsOf(entry.time),
          bytes: segment(from, to, encoded.success, ++id),
          comments
        })
      }
      case "FaultInjected":
      case "ProtocolViolation": {
        if (entry.connection === undefined) return empty
        conversationOf(entry.connection)
        const text =
          entry._tag === "FaultInjected"
            ? `fault ${entry.fault}: ${entry.detail}`
            : `protocol violation: ${entry.message}${entry.spec !== undefined ? ` [${entry.spec}]` : ""}`
        const waiting = pending.get(entry.connection) ?? { micros: microsOf(entry.time), comments: [] }
        waiting.comments.push(text)
        pending.set(entry.connection, waiting)
        return empty
      }
      case "ConnectionClosed":
        return flush(entry.connection)
      default:
        return empty
    }
  }
  return {
    header: () => concat([sectionHeader(), interfaceDescription()]),
    push,
    end: () => concat([...pending.keys()].map(flush))
  }
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/**
 * Dump entries as a pcapng capture (see the module's description).
 * @since 0.1.0
 */
export const encode = (entries: Iterable<Dump.DumpEntry>): Uint8Array => {
  const capture = writer()
  const chunks = [capture.header()]
  for (const entry of entries) chunks.push(capture.push(entry))
  chunks.push(capture.end())
  return concat(chunks)
}

/**
 * Reads a dump and writes it as a pcapng capture.
 * @since 0.1.0
 */
export const fromDump = (dump: string, out: string): Effect.Effect<void, Dump.DumpReadError> =>
  Stream.runCollect(Dump.read(dump)).pipe(
    Effect.flatMap((entries) =>
      Effect.try({
        try: () => Fs.writeFileSync(out, encode(entries)),
        catch: (error) =>
          new Dump.DumpReadError({
            path: out,
            line: 0,
            problem: error instanceof Error ? error.message : String(error)
          })
      })
    )
  )
