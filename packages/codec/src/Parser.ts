/**
 * The incremental MQTT parser: byte chunks in, complete packets out.
 *
 * Chunks may split packets anywhere and may carry many packets. The fixed
 * header is checked as soon as its bytes arrive: an invalid first byte or a
 * Remaining Length that makes the packet larger than `maxPacketSize` fails
 * before any of the body is buffered, and a partial packet is only ever held
 * as the bytes actually received (never pre-allocated from the announced
 * length). After the first error the parser stays failed.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import { type CodecError, make as makeError } from "./CodecError.js"
import { checkFirstByte, decodeBody } from "./internal/decode.js"
import { DecodeFailure } from "./internal/reader.js"
import type { Packet, ProtocolLevel } from "./Packet.js"

/**
 * The largest packet MQTT can express: 1 byte of type and flags, 4 bytes of
 * Remaining Length and 268,435,455 bytes of body.
 * @since 0.1.0
 */
export const MAX_PACKET_SIZE = 268_435_460

/**
 * @since 0.1.0
 */
export interface Options {
  /** Largest packet accepted, fixed header included. Default {@link MAX_PACKET_SIZE}. */
  readonly maxPacketSize?: number | undefined
  /**
   * The protocol level to decode with. When absent the parser decodes as
   * MQTT 3.1.1 until it meets a CONNECT and then uses that CONNECT's level
   * for every following packet, as a server must.
   */
  readonly protocolLevel?: ProtocolLevel | undefined
}

/**
 * What one `push` produced: the packets completed by the chunk, in order,
 * and the error that stopped the parser, if any. Packets completed before an
 * error are still returned.
 * @since 0.1.0
 */
export interface Parsed {
  readonly packets: ReadonlyArray<Packet>
  readonly error: CodecError | undefined
}

/**
 * @since 0.1.0
 */
export interface Parser {
  /** Feeds a chunk of bytes. */
  readonly push: (chunk: Uint8Array) => Parsed
  /** Signals the end of input: an error when a partial packet is still buffered. */
  readonly end: () => CodecError | undefined
  /** The protocol level currently used to decode. */
  readonly protocolLevel: () => ProtocolLevel
  /** Overrides the protocol level (e.g. a client parser after it sent CONNECT). */
  readonly setProtocolLevel: (level: ProtocolLevel) => void
  /** Bytes of an incomplete packet held until the rest arrives. */
  readonly bufferedBytes: () => number
}

const noPackets: ReadonlyArray<Packet> = []

/** Reads the Remaining Length at `pos`: its value and size, or undefined when more bytes are needed. */
const remainingLength = (data: Uint8Array, pos: number): readonly [value: number, size: number] | undefined => {
  let value = 0
  let multiplier = 1
  for (let i = 0; i < 4; i++) {
    if (pos + i >= data.length) return undefined
    const byte = data[pos + i]!
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) {
      if (i > 0 && byte === 0) {
        throw new DecodeFailure({ _tag: "MalformedVariableInteger", field: "remaining length", spec: "MQTT-1.5.5-1" })
      }
      return [value, i + 1]
    }
    multiplier *= 128
  }
  throw new DecodeFailure({ _tag: "MalformedVariableInteger", field: "remaining length" })
}

const concat = (parts: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * Creates a parser. Pure and synchronous: it never throws, never blocks, and
 * its memory is bounded by `maxPacketSize`.
 * @since 0.1.0
 */
export const make = (options?: Options): Parser => {
  const maxPacketSize = options?.maxPacketSize ?? MAX_PACKET_SIZE
  const learn = options?.protocolLevel === undefined
  let level: ProtocolLevel = options?.protocolLevel ?? 4
  let failure: CodecError | undefined
  // Bytes of an incomplete packet, and its total size once its header is known (-1 before).
  let pending: Array<Uint8Array> = []
  let pendingBytes = 0
  let expected = -1

  const stash = (data: Uint8Array, from: number, total: number) => {
    // Copied: the caller may reuse its buffer.
    pending.push(data.slice(from))
    pendingBytes += data.length - from
    expected = total
  }

  const decodeFrame = (data: Uint8Array, pos: number, headerSize: number, total: number, out: Array<Packet>) => {
    const packet = decodeBody(data[pos]!, data, pos + headerSize, pos + total, level)
    if (learn && packet._tag === "Connect") level = packet.protocolLevel
    out.push(packet)
  }

  const run = (chunk: Uint8Array, out: Array<Packet>) => {
    let data = chunk
    let pos = 0
    if (pendingBytes > 0) {
      if (expected < 0) {
        // Only a partial fixed header (at most 4 bytes) is pending: join it with the chunk.
        data = concat([...pending, chunk], pendingBytes + chunk.length)
      } else {
        const missing = expected - pendingBytes
        if (chunk.length < missing) {
          pending.push(chunk.slice())
          pendingBytes += chunk.length
          return
        }
        pending.push(chunk.subarray(0, missing))
        const frame = concat(pending, expected)
        pos = missing
        pending = []
        pendingBytes = 0
        expected = -1
        const [, size] = remainingLength(frame, 1)!
        decodeFrame(frame, 0, 1 + size, frame.length, out)
      }
      pending = []
      pendingBytes = 0
      expected = -1
    }
    while (pos < data.length) {
      checkFirstByte(data[pos]!, level)
      const length = remainingLength(data, pos + 1)
      if (length === undefined) {
        stash(data, pos, -1)
        return
      }
      const headerSize = 1 + length[1]
      const total = headerSize + length[0]
      if (total > maxPacketSize) {
        throw new DecodeFailure({ _tag: "PacketTooLarge", size: total, maximum: maxPacketSize })
      }
      if (data.length - pos < total) {
        stash(data, pos, total)
        return
      }
      decodeFrame(data, pos, headerSize, total, out)
      pos += total
    }
  }

  const push = (chunk: Uint8Array): Parsed => {
    if (failure !== undefined) return { packets: noPackets, error: failure }
    const out: Array<Packet> = []
    try {
      run(chunk, out)
    } catch (e) {
      if (!(e instanceof DecodeFailure)) throw e
      failure = makeError(e.reason)
      pending = []
      pendingBytes = 0
    }
    return { packets: out, error: failure }
  }

  return {
    push,
    end: () =>
      failure ?? (pendingBytes > 0 ? makeError({ _tag: "IncompletePacket", bufferedBytes: pendingBytes }) : undefined),
    protocolLevel: () => level,
    setProtocolLevel: (next) => {
      level = next
    },
    bufferedBytes: () => pendingBytes
  }
}

/**
 * Parses a complete byte sequence holding whole packets.
 * @since 0.1.0
 */
export const parseAll = (bytes: Uint8Array, options?: Options): Parsed => {
  const parser = make(options)
  const parsed = parser.push(bytes)
  if (parsed.error !== undefined) return parsed
  return { packets: parsed.packets, error: parser.end() }
}

/**
 * A Channel from byte chunks to packets, for a connection loop. Packets
 * decoded before an error are emitted before the channel fails with it; a
 * partial packet at the end of input fails with `IncompletePacket`.
 * @since 0.1.0
 */
export const decode = <IE = never, Done = unknown>(
  options?: Options
): Channel.Channel<
  Arr.NonEmptyReadonlyArray<Packet>,
  IE | CodecError,
  Done,
  Arr.NonEmptyReadonlyArray<Uint8Array>,
  IE,
  Done
> =>
  Channel.fromTransform((upstream, _scope) =>
    Effect.sync(() => {
      const parser = make(options)
      let failure: CodecError | undefined
      let done: { readonly leftover: Done } | undefined
      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<Packet>, IE | CodecError, Done> = Effect.suspend(() => {
        if (failure !== undefined) return Effect.fail(failure)
        if (done !== undefined) return Cause.done(done.leftover)
        return Pull.matchEffect(upstream, {
          onSuccess: (chunks) => {
            const out: Array<Packet> = []
            for (const chunk of chunks) {
              const parsed = parser.push(chunk)
              for (const packet of parsed.packets) out.push(packet)
              if (parsed.error !== undefined) {
                failure = parsed.error
                break
              }
            }
            if (Arr.isArrayNonEmpty(out)) return Effect.succeed(out)
            return failure !== undefined ? Effect.fail(failure) : pull
          },
          onFailure: Effect.failCause,
          onDone: (leftover): Pull.Pull<never, CodecError, Done> => {
            done = { leftover }
            const error = parser.end()
            return error !== undefined ? Effect.fail(error) : Cause.done(leftover)
          }
        })
      })
      return pull
    })
  )

/**
 * Decodes a stream of byte chunks into a stream of packets.
 * @since 0.1.0
 */
export const decodeStream =
  (options?: Options) =>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Packet, E | CodecError, R> =>
    Stream.pipeThroughChannel(self, decode<E>(options))
