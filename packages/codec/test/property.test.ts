/**
 * Property-based tests with arbitraries derived from the packet Schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { CodecError, Encoder, Packet, Parser, ReasonCode } from "@mqttest/codec"
import { Result, Schema } from "effect"
import { connectSamples, levels, samples } from "./fixtures.js"

const isPacket = Schema.is(Packet.Packet)

type Mutable = Record<string, unknown>

/** Drops absent values and empty lists, and the whole object when nothing is left. */
const compactProperties = (props: object | undefined): object | undefined => {
  if (props === undefined) return undefined
  const out: Mutable = {}
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue
    out[key] = value
  }
  return Object.keys(out).length === 0 ? undefined : out
}

/** The form the decoder produces for a packet: defaults filled in, empty property sets dropped. */
const canonical = (packet: Packet.Packet): Packet.Packet => {
  const out: Mutable = { ...packet }
  const props = compactProperties((packet as { properties?: object }).properties)
  if (props === undefined) delete out.properties
  else out.properties = props
  switch (packet._tag) {
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
    case "Disconnect":
    case "Auth":
      out.reasonCode = packet.reasonCode ?? 0
      break
    case "Subscribe":
      out.subscriptions = packet.subscriptions.map((s) => ({
        topicFilter: s.topicFilter,
        qos: s.qos,
        noLocal: s.noLocal ?? false,
        retainAsPublished: s.retainAsPublished ?? false,
        retainHandling: s.retainHandling ?? 0
      }))
      break
    case "Connect":
      if (packet.will !== undefined) {
        const will: Mutable = { ...packet.will }
        const willProps = compactProperties(packet.will.properties)
        if (willProps === undefined) delete will.properties
        else will.properties = willProps
        out.will = will
      }
      break
  }
  return out as Packet.Packet
}

const strings = (packet: Packet.Packet): Array<string> => {
  const found: Array<string> = []
  const walk = (value: unknown) => {
    if (typeof value === "string") found.push(value)
    else if (Array.isArray(value)) value.forEach(walk)
    else if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
      Object.values(value).forEach(walk)
    }
  }
  walk(packet)
  return found
}

/**
 * The decoder rejects some packets the encoder writes on purpose (so that
 * tests can send them). Says whether a decode error is explained by such a
 * property of the packet.
 */
const explained = (packet: Packet.Packet, level: Packet.ProtocolLevel, reason: CodecError.CodecErrorReason) => {
  switch (reason._tag) {
    case "InvalidString":
      return strings(packet).some((s) => s.includes("\u0000"))
    case "EmptyPayload":
      return (
        (packet._tag === "Subscribe" && packet.subscriptions.length === 0) ||
        (packet._tag === "Unsubscribe" && packet.topicFilters.length === 0) ||
        ((packet._tag === "Suback" || packet._tag === "Unsuback") && packet.reasonCodes.length === 0)
      )
    case "InvalidReasonCode": {
      const codes =
        "reasonCodes" in packet ? packet.reasonCodes : "reasonCode" in packet ? [packet.reasonCode ?? 0] : []
      return codes.some((code) => !ReasonCode.isAllowed(packet._tag, level, code))
    }
    default:
      return false
  }
}

describe("properties", () => {
  it.prop(
    "every Schema-valid packet either round trips or is refused with a typed error",
    [Packet.Packet, Packet.ProtocolLevel],
    ([packet, level]) => {
      const encoded = Encoder.encode(packet, level)
      if (Result.isFailure(encoded)) {
        assert.instanceOf(encoded.failure, CodecError.CodecError)
        assert.oneOf(encoded.failure.reason._tag, ["InvalidPacket", "PacketTooLarge"])
        return
      }
      const decodeLevel = packet._tag === "Connect" ? packet.protocolLevel : level
      const parsed = Parser.parseAll(encoded.success, { protocolLevel: decodeLevel })
      if (parsed.error !== undefined) {
        assert.isTrue(explained(packet, decodeLevel, parsed.error.reason), parsed.error.message)
        return
      }
      assert.strictEqual(parsed.packets.length, 1)
      assert.isTrue(isPacket(parsed.packets[0]))
      assert.deepStrictEqual(parsed.packets[0], canonical(packet))
    },
    { arbitrary: { runs: 1000 } }
  )

  // Valid packets of every level with one byte replaced: decoding never throws, never hangs,
  // and yields either Schema-valid packets or a CodecError.
  const corpus = levels.flatMap((level) =>
    [...connectSamples(level), ...samples(level)].map((packet) => ({
      level,
      bytes: Result.getOrThrow(Encoder.encode(packet, level)).subarray(0, 2048)
    }))
  )

  it.prop(
    "a mutated packet decodes to valid packets or a CodecError",
    [
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: corpus.length - 1 })),
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2047 })),
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 })),
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 }))
    ],
    ([which, position, value, chunk]) => {
      const { bytes, level } = corpus[which]!
      const mutated = bytes.slice()
      mutated[position % mutated.length] = value
      const parser = Parser.make({ protocolLevel: level, maxPacketSize: 1 << 16 })
      let error: CodecError.CodecError | undefined
      for (let i = 0; i < mutated.length && error === undefined; i += chunk) {
        const parsed = parser.push(mutated.subarray(i, i + chunk))
        for (const packet of parsed.packets) assert.isTrue(isPacket(packet), JSON.stringify(packet))
        error = parsed.error
      }
      error ??= parser.end()
      if (error !== undefined) assert.instanceOf(error, CodecError.CodecError)
    },
    { arbitrary: { runs: 3000 } }
  )

  it.prop(
    "random bytes decode to valid packets or a CodecError",
    [Schema.Uint8Array, Packet.ProtocolLevel],
    ([bytes, level]) => {
      const parsed = Parser.parseAll(bytes, { protocolLevel: level, maxPacketSize: 1 << 16 })
      for (const packet of parsed.packets) assert.isTrue(isPacket(packet))
      if (parsed.error !== undefined) assert.instanceOf(parsed.error, CodecError.CodecError)
    },
    { arbitrary: { runs: 2000 } }
  )
})
