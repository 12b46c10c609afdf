/**
 * Packet → bytes at a protocol level. Never throws: a packet that cannot be
 * written at the level (an MQTT 5 field below level 5, a value out of range,
 * a packet larger than `maxPacketSize`) is a `CodecError`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { type CodecError, make as makeError } from "./CodecError.js"
import { encodePacket } from "./internal/encode.js"
import { DecodeFailure } from "./internal/reader.js"
import type { Packet, ProtocolLevel } from "./Packet.js"
import { MAX_PACKET_SIZE } from "./Parser.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Fail with `PacketTooLarge` instead of producing a larger packet (e.g. the client's Maximum Packet Size). */
  readonly maxPacketSize?: number | undefined
  /**
   * MQTT 5: write the reason code and the property length of PUBACK, PUBREC,
   * PUBREL and PUBCOMP even for success without properties, where the spec
   * allows leaving both out (Remaining Length 4 instead of 2). Clients must
   * read both forms. Default: the short form. (DISCONNECT and AUTH are
   * always written with their reason code.)
   */
  readonly explicitReasonCodes?: boolean | undefined
}

/**
 * Encodes a packet. A CONNECT is always written at its own `protocolLevel`.
 * @since 0.1.0
 */
export const encode = (
  packet: Packet,
  level: ProtocolLevel,
  options?: Options
): Result.Result<Uint8Array, CodecError> => {
  try {
    return Result.succeed(
      encodePacket(packet, level, options?.maxPacketSize ?? MAX_PACKET_SIZE, options?.explicitReasonCodes)
    )
  } catch (e) {
    if (e instanceof DecodeFailure) return Result.fail(makeError(e.reason))
    throw e
  }
}

/**
 * {@link encode} as an Effect.
 * @since 0.1.0
 */
export const encodeEffect = (
  packet: Packet,
  level: ProtocolLevel,
  options?: Options
): Effect.Effect<Uint8Array, CodecError> => Effect.suspend(() => Effect.fromResult(encode(packet, level, options)))
