/**
 * The codec as a service, so the server (and tests) take it from the
 * context and its limits can be set in one place.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import type { CodecError } from "./CodecError.js"
import * as Encoder from "./Encoder.js"
import type { Packet, ProtocolLevel } from "./Packet.js"
import * as Parser from "./Parser.js"

/**
 * Limits applied by every parser and encoder the service hands out.
 * @since 0.1.0
 */
export interface CodecOptions {
  /** Largest inbound packet accepted. Default: the protocol maximum. */
  readonly maxPacketSize?: number | undefined
}

/**
 * @since 0.1.0
 */
export class Codec extends Context.Service<
  Codec,
  {
    /** A fresh incremental parser (one per connection). */
    readonly parser: (options?: Parser.Options) => Parser.Parser
    /** Decodes a byte stream into packets with the service's limits. */
    readonly decodeStream: (
      options?: Parser.Options
    ) => <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Packet, E | CodecError, R>
    /** Encodes one packet. */
    readonly encode: (
      packet: Packet,
      level: ProtocolLevel,
      options?: Encoder.Options
    ) => Result.Result<Uint8Array, CodecError>
  }
>()("@mqttest/codec/Codec") {}

/**
 * Builds the service value.
 * @since 0.1.0
 */
export const make = (options?: CodecOptions): Codec["Service"] => {
  const withLimits = (parserOptions?: Parser.Options): Parser.Options => ({
    maxPacketSize: options?.maxPacketSize,
    ...parserOptions
  })
  return Codec.of({
    parser: (parserOptions) => Parser.make(withLimits(parserOptions)),
    decodeStream: (parserOptions) => Parser.decodeStream(withLimits(parserOptions)),
    encode: Encoder.encode
  })
}

/**
 * The codec with the given limits.
 * @since 0.1.0
 */
export const layer = (options?: CodecOptions): Layer.Layer<Codec> => Layer.succeed(Codec, make(options))

/**
 * The codec with its limits read from configuration (`MQTTEST_MAX_PACKET_SIZE`).
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<Codec, Config.ConfigError> = Layer.effect(
  Codec,
  Effect.map(Config.Int("MQTTEST_MAX_PACKET_SIZE").pipe(Config.withDefault(Parser.MAX_PACKET_SIZE)), (maxPacketSize) =>
    make({ maxPacketSize })
  )
)
