import { assert, describe, it } from "@effect/vitest"
import { Codec, Encoder, Parser } from "@mqttest/codec"
import { Effect, Exit, Result, Stream } from "effect"
import { concat, hex, samples } from "./fixtures.js"

const packets = samples(5).filter((p) => p._tag !== "Publish" || p.payload.length < 200)
const bytes = concat(packets.map((p) => Result.getOrThrow(Encoder.encode(p, 5))))

/** Splits bytes into chunks of `size`. */
const chunks = (data: Uint8Array, size: number) => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size))
  return out
}

describe("Parser.decodeStream", () => {
  it.effect("decodes a chunked byte stream into packets", () =>
    Effect.gen(function* () {
      for (const size of [1, 7, 64, 4096]) {
        const decoded = yield* Stream.fromIterable(chunks(bytes, size)).pipe(
          Parser.decodeStream({ protocolLevel: 5 }),
          Stream.runCollect
        )
        assert.deepStrictEqual(decoded, packets, `chunks of ${size}`)
      }
    })
  )

  it.effect("emits the packets before a malformed one, then fails with the CodecError", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const exit = yield* Stream.fromIterable([hex("c0 00 d0"), hex("00 36 00")]).pipe(
        Parser.decodeStream({ protocolLevel: 4 }),
        Stream.runForEach((packet) => Effect.sync(() => seen.push(packet._tag))),
        Effect.exit
      )
      assert.deepStrictEqual(seen, ["Pingreq", "Pingresp"])
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(
        Stream.fromIterable([hex("c0 00 36 00")]).pipe(Parser.decodeStream(), Stream.runDrain)
      )
      assert.strictEqual(error._tag, "CodecError")
      assert.strictEqual(error.reason._tag, "InvalidFlags")
    })
  )

  it.effect("fails with IncompletePacket when the input ends inside a packet", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Stream.make(hex("c0 00 30 05 00")).pipe(Parser.decodeStream(), Stream.runDrain))
      assert.strictEqual(error.reason._tag, "IncompletePacket")
    })
  )

  it.effect("passes upstream errors through unchanged", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Stream.concat(Stream.make(hex("c0 00")), Stream.fail("socket closed" as const)).pipe(
          Parser.decodeStream(),
          Stream.runDrain
        )
      )
      assert.strictEqual(error, "socket closed")
    })
  )
})

describe("Codec service", () => {
  it.effect("hands out parsers with the layer's size limit", () =>
    Effect.gen(function* () {
      const codec = yield* Codec.Codec
      const parsed = codec.parser().push(hex("30 7f"))
      assert.strictEqual(parsed.error?.reason._tag, "PacketTooLarge")
      const error = yield* Effect.flip(Stream.make(hex("30 7f")).pipe(codec.decodeStream(), Stream.runDrain))
      assert.strictEqual(error.reason._tag, "PacketTooLarge")
      const encoded = codec.encode({ _tag: "Pingreq" }, 4)
      assert.deepStrictEqual(Result.getOrThrow(encoded), hex("c0 00"))
    }).pipe(Effect.provide(Codec.layer({ maxPacketSize: 16 })))
  )

  it.effect("encodeEffect fails with a typed error for a packet the level cannot carry", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Encoder.encodeEffect({ _tag: "Puback", packetId: 1, reasonCode: 0x10 }, 4))
      assert.strictEqual(error.reason._tag, "InvalidPacket")
      assert.match(error.message, /requires protocol level 5/)
    })
  )
})
