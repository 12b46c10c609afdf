import { assert, describe, it } from "@effect/vitest"
import { Encoder, type Packet, Parser } from "@mqttest/codec"
import { Result } from "effect"
import { concat, connectSamples, levels, samples } from "./fixtures.js"

const encode = (packet: Packet.Packet, level: Packet.ProtocolLevel): Uint8Array => {
  const result = Encoder.encode(packet, level)
  if (Result.isFailure(result)) throw new Error(`encode ${packet._tag}@${level}: ${result.failure.message}`)
  return result.success
}

/** Feeds `chunks` to a parser and returns every packet, failing the test on any error. */
const parseChunks = (chunks: ReadonlyArray<Uint8Array>, options: Parser.Options): Array<Packet.Packet> => {
  const parser = Parser.make(options)
  const out: Array<Packet.Packet> = []
  for (const chunk of chunks) {
    const parsed = parser.push(chunk)
    if (parsed.error !== undefined) throw new Error(parsed.error.message)
    out.push(...parsed.packets)
  }
  assert.isUndefined(parser.end())
  assert.strictEqual(parser.bufferedBytes(), 0)
  return out
}

describe("round trip", () => {
  for (const level of levels) {
    describe(`protocol level ${level}`, () => {
      it("decodes every packet type back to what was encoded", () => {
        const all = [...connectSamples(level), ...samples(level)]
        const tags = new Set(all.map((p) => p._tag))
        // Every packet type the level has (AUTH only in MQTT 5).
        assert.strictEqual(tags.size, level === 5 ? 15 : 14)
        for (const packet of all) {
          const decoded = parseChunks([encode(packet, level)], { protocolLevel: level })
          assert.deepStrictEqual(decoded, [packet], `${packet._tag} at level ${level}`)
        }
      })

      it("re-encodes decoded packets to the same bytes", () => {
        for (const packet of [...connectSamples(level), ...samples(level)]) {
          const bytes = encode(packet, level)
          const [decoded] = parseChunks([bytes], { protocolLevel: level })
          assert.deepStrictEqual(encode(decoded!, level), bytes)
        }
      })

      it("decodes each packet identically when split at every byte boundary", () => {
        for (const packet of [...connectSamples(level), ...samples(level)]) {
          const bytes = encode(packet, level)
          if (bytes.length > 1024) continue
          for (let i = 1; i < bytes.length; i++) {
            const decoded = parseChunks([bytes.subarray(0, i), bytes.subarray(i)], { protocolLevel: level })
            assert.deepStrictEqual(decoded, [packet], `${packet._tag} split at ${i}`)
          }
        }
      })

      it("decodes a concatenated stream identically whatever the chunking", () => {
        const packets = samples(level).filter((p) => p._tag !== "Publish" || p.payload.length < 1000)
        const stream = concat(packets.map((p) => encode(p, level)))
        assert.deepStrictEqual(parseChunks([stream], { protocolLevel: level }), packets)
        for (let i = 1; i < stream.length; i++) {
          const decoded = parseChunks([stream.subarray(0, i), stream.subarray(i)], { protocolLevel: level })
          assert.strictEqual(decoded.length, packets.length, `split at ${i}`)
          assert.deepStrictEqual(decoded, packets, `split at ${i}`)
        }
        const single = Array.from(stream, (byte) => new Uint8Array([byte]))
        assert.deepStrictEqual(parseChunks(single, { protocolLevel: level }), packets)
      })

      it("learns the protocol level from CONNECT, as a server does", () => {
        const [connect] = connectSamples(level)
        const following = samples(level).filter(
          (p) => p._tag === "Publish" || p._tag === "Puback" || p._tag === "Subscribe" || p._tag === "Disconnect"
        )
        const stream = concat([encode(connect!, level), ...following.map((p) => encode(p, level))])
        // Every chunking of the first 64 bytes, so the CONNECT and its followers share chunks.
        for (let i = 1; i < Math.min(64, stream.length); i++) {
          const parser = Parser.make()
          const first = parser.push(stream.subarray(0, i))
          const rest = parser.push(stream.subarray(i))
          assert.isUndefined(first.error)
          assert.isUndefined(rest.error)
          assert.deepStrictEqual([...first.packets, ...rest.packets], [connect, ...following])
          assert.strictEqual(parser.protocolLevel(), level)
        }
      })
    })
  }

  it("uses a 4-byte Remaining Length for a 2 MiB payload", () => {
    const payload = new Uint8Array(2 * 1024 * 1024).map((_, i) => i & 0xff)
    const packet: Packet.Packet = {
      _tag: "Publish",
      topic: "big",
      payload,
      qos: 1,
      packetId: 1,
      retain: false,
      dup: false
    }
    const bytes = encode(packet, 4)
    assert.strictEqual(bytes[4]! & 0x80, 0)
    assert.strictEqual(bytes[3]! & 0x80, 0x80)
    const chunks: Array<Uint8Array> = []
    for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536))
    assert.deepStrictEqual(parseChunks(chunks, { protocolLevel: 4 }), [packet])
  })

  it("accepts a packet of exactly the maximum size and refuses one byte more", () => {
    const packet = (size: number): Packet.Packet => ({
      _tag: "Publish",
      topic: "t",
      payload: new Uint8Array(size - 2 - 3),
      qos: 0,
      retain: false,
      dup: false
    })
    const max = 100
    const exact = encode(packet(max), 4)
    assert.strictEqual(exact.length, max)
    assert.deepStrictEqual(parseChunks([exact], { maxPacketSize: max, protocolLevel: 4 }), [packet(max)])
    const tooBig = Parser.make({ maxPacketSize: max - 1 }).push(exact)
    assert.strictEqual(tooBig.error?.reason._tag, "PacketTooLarge")
    const refused = Encoder.encode(packet(max), 4, { maxPacketSize: max - 1 })
    assert.isTrue(Result.isFailure(refused))
  })

  it("accepts the header of the largest packet MQTT can express without buffering its body", () => {
    const parser = Parser.make()
    // PUBLISH with Remaining Length 268,435,455 (0xFF 0xFF 0xFF 0x7F) and the first body bytes.
    const parsed = parser.push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x61]))
    assert.isUndefined(parsed.error)
    assert.strictEqual(parsed.packets.length, 0)
    assert.strictEqual(parser.bufferedBytes(), 8)
  })
})
