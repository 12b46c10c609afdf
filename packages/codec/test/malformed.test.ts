/**
 * One test per kind of malformed input: each asserts the exact reason, and
 * where the spec has one, the statement id.
 */
import { assert, describe, it } from "@effect/vitest"
import { type CodecError, type Packet, Parser } from "@mqttest/codec"
import { hex } from "./fixtures.js"

/** Parses `bytes` and returns the error's reason; fails the test when there is none. */
const reasonOf = (bytes: string, level: Packet.ProtocolLevel = 4, options?: Parser.Options) => {
  const parser = Parser.make({ protocolLevel: level, ...options })
  const parsed = parser.push(hex(bytes))
  const error = parsed.error ?? parser.end()
  if (error === undefined) assert.fail(`expected an error for ${bytes}, got ${JSON.stringify(parsed.packets)}`)
  assert.strictEqual(parsed.packets.length, 0, "no packet is produced from malformed bytes")
  return error.reason
}

const expectReason = (
  reason: CodecError.CodecErrorReason,
  tag: CodecError.CodecErrorReason["_tag"],
  fields: Record<string, unknown> = {}
) => {
  assert.strictEqual(reason._tag, tag, JSON.stringify(reason))
  for (const [key, value] of Object.entries(fields)) {
    assert.deepStrictEqual((reason as Record<string, unknown>)[key], value, `${key} of ${JSON.stringify(reason)}`)
  }
}

// "MQTT" with length prefix, and a 3.1.1 CONNECT's fixed fields around it.
const MQTT = "00 04 4d 51 54 54"

describe("malformed input", () => {
  describe("fixed header", () => {
    it("Remaining Length longer than 4 bytes", () => {
      expectReason(reasonOf("30 ff ff ff ff 01"), "MalformedVariableInteger", { field: "remaining length" })
    })

    it("Remaining Length not minimally encoded", () => {
      expectReason(reasonOf("c0 80 00"), "MalformedVariableInteger", { spec: "MQTT-1.5.5-1" })
    })

    it("packet type 0 is reserved", () => {
      expectReason(reasonOf("00 00"), "InvalidPacketType", { type: 0, spec: "MQTT-2.2.1-1" })
    })

    it("packet type 15 (AUTH) below MQTT 5", () => {
      expectReason(reasonOf("f0 00", 4), "InvalidPacketType", { type: 15 })
      const parsed = Parser.parseAll(hex("f0 00"), { protocolLevel: 5 })
      assert.deepStrictEqual(parsed.packets, [{ _tag: "Auth", reasonCode: 0 }])
    })

    it("reserved flag bits set", () => {
      expectReason(reasonOf("41 02 00 01"), "InvalidFlags", { packetType: "PUBACK", flags: 1, spec: "MQTT-2.2.2-1" })
      expectReason(reasonOf("60 02 00 01"), "InvalidFlags", { packetType: "PUBREL", flags: 0 })
      expectReason(reasonOf("80 06 00 01 00 01 61 00"), "InvalidFlags", { packetType: "SUBSCRIBE" })
      expectReason(reasonOf("c1 00", 5), "InvalidFlags", { packetType: "PINGREQ", spec: "MQTT-2.1.3-1" })
    })

    it("PUBLISH with QoS 3", () => {
      expectReason(reasonOf("36 05 00 01 61 00 01"), "InvalidFlags", { problem: "QoS 3", spec: "MQTT-3.3.1-4" })
    })

    it("PUBLISH QoS 0 with DUP", () => {
      expectReason(reasonOf("38 03 00 01 61"), "InvalidFlags", { spec: "MQTT-3.3.1-2" })
    })

    it("a packet larger than the maximum fails from its header, before the body is buffered", () => {
      const parser = Parser.make({ maxPacketSize: 100 })
      // Announces 268,435,455 bytes; only the header has arrived.
      const parsed = parser.push(hex("30 ff ff ff 7f"))
      expectReason(parsed.error!.reason, "PacketTooLarge", { size: 268435460, maximum: 100 })
      assert.strictEqual(parser.bufferedBytes(), 0)
    })

    it("the stream ends inside a packet", () => {
      expectReason(reasonOf("30 05 00 01"), "IncompletePacket", { bufferedBytes: 4 })
      expectReason(reasonOf("30"), "IncompletePacket", { bufferedBytes: 1 })
    })
  })

  describe("fields", () => {
    it("a string longer than the packet", () => {
      expectReason(reasonOf("30 03 00 0a 61"), "Truncated", { packetType: "PUBLISH", field: "topic name" })
    })

    it("a packet identifier cut short", () => {
      expectReason(reasonOf("40 01 00"), "Truncated", { packetType: "PUBACK", field: "packet identifier" })
    })

    it("a CONNECT that ends before its keep alive", () => {
      expectReason(reasonOf(`10 08 ${MQTT} 04 02`), "Truncated", { packetType: "CONNECT", field: "keep alive" })
    })

    it("ill-formed UTF-8 in a topic name", () => {
      expectReason(reasonOf("30 04 00 02 c3 28"), "InvalidString", {
        field: "topic name",
        problem: "ill-formed UTF-8",
        spec: "MQTT-1.5.3-1"
      })
    })

    it("an encoded UTF-16 surrogate in a topic name", () => {
      expectReason(reasonOf("30 05 00 03 ed a0 80", 5), "InvalidString", { spec: "MQTT-1.5.4-1" })
    })

    it("U+0000 in a topic name", () => {
      expectReason(reasonOf("30 05 00 03 61 00 62"), "InvalidString", {
        problem: "contains U+0000",
        spec: "MQTT-1.5.3-2"
      })
    })

    it("ill-formed UTF-8 in a client id", () => {
      expectReason(reasonOf(`10 0f ${MQTT} 04 02 00 3c 00 03 61 ff 62`), "InvalidString", {
        packetType: "CONNECT",
        field: "client identifier"
      })
    })

    it("MQTT 5 reason code and properties in a 3.1.1 PUBACK", () => {
      expectReason(reasonOf("40 04 00 01 10 00", 4), "TrailingBytes", { packetType: "PUBACK", count: 2 })
    })

    it("MQTT 5 reason code in a 3.1.1 DISCONNECT", () => {
      expectReason(reasonOf("e0 01 00", 4), "TrailingBytes", { packetType: "DISCONNECT", count: 1 })
    })

    it("bytes after an empty packet", () => {
      expectReason(reasonOf("c0 01 00"), "TrailingBytes", { packetType: "PINGREQ" })
    })

    it("bytes after the last field of a CONNECT", () => {
      expectReason(reasonOf(`10 0e ${MQTT} 04 02 00 3c 00 01 61 00`), "TrailingBytes", { packetType: "CONNECT" })
    })

    it("packet identifier 0", () => {
      expectReason(reasonOf("32 05 00 01 61 00 00"), "InvalidPacketId", { packetType: "PUBLISH", spec: "MQTT-2.3.1-1" })
      expectReason(reasonOf("82 06 00 00 00 01 61 00"), "InvalidPacketId", { packetType: "SUBSCRIBE" })
      expectReason(reasonOf("40 02 00 00", 5), "InvalidPacketId", { spec: "MQTT-2.2.1-3" })
    })

    it("CONNACK acknowledge flags with reserved bits", () => {
      expectReason(reasonOf("20 02 02 00"), "InvalidFlags", { packetType: "CONNACK", flags: 2 })
    })
  })

  describe("CONNECT", () => {
    it("unknown protocol name", () => {
      expectReason(reasonOf("10 0d 00 04 4d 51 54 58 04 02 00 3c 00 01 61"), "InvalidProtocolName", {
        protocolName: "MQTX",
        spec: "MQTT-3.1.2-1"
      })
    })

    it("unsupported protocol level", () => {
      expectReason(reasonOf(`10 0d ${MQTT} 06 02 00 3c 00 01 61`), "UnsupportedProtocolLevel", {
        level: 6,
        spec: "MQTT-3.1.2-2"
      })
    })

    it("protocol name that does not go with the level", () => {
      expectReason(reasonOf("10 0f 00 06 4d 51 49 73 64 70 04 02 00 3c 00 01 61"), "UnsupportedProtocolLevel", {
        protocolName: "MQIsdp",
        level: 4
      })
      expectReason(reasonOf(`10 0d ${MQTT} 03 02 00 3c 00 01 61`), "UnsupportedProtocolLevel", { level: 3 })
    })

    it("reserved connect flag", () => {
      expectReason(reasonOf(`10 0d ${MQTT} 04 03 00 3c 00 01 61`), "InvalidConnectFlags", { spec: "MQTT-3.1.2-3" })
    })

    it("will QoS 3", () => {
      expectReason(reasonOf(`10 0d ${MQTT} 04 1e 00 3c 00 01 61`), "InvalidConnectFlags", { spec: "MQTT-3.1.2-14" })
      expectReason(reasonOf(`10 0e ${MQTT} 05 1e 00 3c 00 00 01 61`), "InvalidConnectFlags", { spec: "MQTT-3.1.2-12" })
    })

    it("will QoS or will retain without the will flag", () => {
      expectReason(reasonOf(`10 0d ${MQTT} 04 0a 00 3c 00 01 61`), "InvalidConnectFlags", { spec: "MQTT-3.1.2-13" })
      expectReason(reasonOf(`10 0d ${MQTT} 04 22 00 3c 00 01 61`), "InvalidConnectFlags", { spec: "MQTT-3.1.2-15" })
    })

    it("a will flag without will topic and payload", () => {
      expectReason(reasonOf(`10 0d ${MQTT} 04 06 00 3c 00 01 61`), "Truncated", { field: "will topic" })
    })
  })

  describe("SUBSCRIBE and UNSUBSCRIBE", () => {
    it("reserved subscription option bits below MQTT 5", () => {
      expectReason(reasonOf("82 06 00 01 00 01 61 04"), "InvalidSubscriptionOptions", {
        topicFilter: "a",
        options: 4,
        spec: "MQTT-3.8.3-4"
      })
    })

    it("subscription QoS 3", () => {
      expectReason(reasonOf("82 06 00 01 00 01 61 03"), "InvalidSubscriptionOptions", { problem: "QoS 3" })
    })

    it("MQTT 5 retain handling 3 and reserved bits 7-6", () => {
      expectReason(reasonOf("82 07 00 01 00 00 01 61 30", 5), "InvalidSubscriptionOptions", {
        problem: "retain handling 3"
      })
      expectReason(reasonOf("82 07 00 01 00 00 01 61 40", 5), "InvalidSubscriptionOptions", { spec: "MQTT-3.8.3-5" })
    })

    it("SUBSCRIBE without topic filters", () => {
      expectReason(reasonOf("82 02 00 01"), "EmptyPayload", { packetType: "SUBSCRIBE", spec: "MQTT-3.8.3-3" })
    })

    it("UNSUBSCRIBE without topic filters", () => {
      expectReason(reasonOf("a2 03 00 01 00", 5), "EmptyPayload", { packetType: "UNSUBSCRIBE", spec: "MQTT-3.10.3-2" })
    })

    it("a subscription without its options byte", () => {
      expectReason(reasonOf("82 05 00 01 00 01 61"), "Truncated", { field: "subscription options" })
    })
  })

  describe("reason codes", () => {
    it("a reason code the packet may not carry", () => {
      expectReason(reasonOf("40 03 00 01 05", 5), "InvalidReasonCode", { packetType: "PUBACK", code: 5 })
      expectReason(reasonOf("70 03 00 01 10", 5), "InvalidReasonCode", { packetType: "PUBCOMP", code: 0x10 })
      expectReason(reasonOf("e0 01 05", 5), "InvalidReasonCode", { packetType: "DISCONNECT", code: 5 })
    })

    it("a 3.1.1 SUBACK return code other than 0, 1, 2, 0x80", () => {
      expectReason(reasonOf("90 03 00 01 03", 4), "InvalidReasonCode", { packetType: "SUBACK", code: 3 })
    })

    it("a 3.1.1 CONNACK return code above 5", () => {
      expectReason(reasonOf("20 02 00 06", 4), "InvalidReasonCode", { packetType: "CONNACK", code: 6 })
    })
  })

  describe("MQTT 5 properties", () => {
    it("an unknown property identifier", () => {
      expectReason(reasonOf("30 07 00 01 61 02 07 00 00", 5), "UnknownProperty", { packetType: "PUBLISH", id: 7 })
    })

    it("a property not allowed in the packet", () => {
      // Session Expiry Interval (0x11) in a PUBLISH.
      expectReason(reasonOf("30 09 00 01 61 05 11 00 00 00 01", 5), "PropertyNotAllowed", {
        packetType: "PUBLISH",
        property: "sessionExpiryInterval"
      })
    })

    it("a property repeated that may appear once", () => {
      // Content Type (0x03) twice.
      expectReason(reasonOf("30 0c 00 01 61 08 03 00 01 78 03 00 01 79", 5), "DuplicateProperty", {
        property: "contentType"
      })
      // Subscription Identifier twice in a SUBSCRIBE (allowed several times only in PUBLISH).
      expectReason(reasonOf("82 0b 00 01 04 0b 01 0b 02 00 01 61 00", 5), "DuplicateProperty", {
        packetType: "SUBSCRIBE",
        property: "subscriptionIdentifier"
      })
    })

    it("a property value out of range", () => {
      // Payload Format Indicator 2.
      expectReason(reasonOf("30 06 00 01 61 02 01 02", 5), "InvalidPropertyValue", {
        property: "payloadFormatIndicator",
        value: "2"
      })
      // Topic Alias 0.
      expectReason(reasonOf("30 07 00 01 61 03 23 00 00", 5), "InvalidPropertyValue", { property: "topicAlias" })
      // Receive Maximum 0 in CONNECT.
      expectReason(reasonOf(`10 10 ${MQTT} 05 02 00 3c 03 21 00 00 00 00`, 5), "InvalidPropertyValue", {
        packetType: "CONNECT",
        property: "receiveMaximum"
      })
    })

    it("a property length beyond the packet", () => {
      expectReason(reasonOf("40 04 00 01 00 0a", 5), "Truncated", { field: "properties" })
    })

    it("a property value that runs past the property length", () => {
      // Property length 2, but Message Expiry Interval needs 5 bytes.
      expectReason(reasonOf("30 0a 00 01 61 02 02 00 00 00 01 00", 5), "Truncated", {
        field: "messageExpiryInterval"
      })
    })

    it("a will property outside the will's set", () => {
      // Receive Maximum (0x21) among will properties.
      expectReason(
        reasonOf(`10 17 ${MQTT} 05 06 00 3c 00 00 01 61 03 21 00 01 00 01 74 00 00`, 5),
        "PropertyNotAllowed",
        { packetType: "CONNECT (will)", property: "receiveMaximum" }
      )
    })
  })

  describe("after an error", () => {
    it("keeps the packets before the bad one and stays failed", () => {
      const parser = Parser.make({ protocolLevel: 4 })
      const parsed = parser.push(hex("c0 00 d0 00 00 00 c0 00"))
      assert.deepStrictEqual(parsed.packets, [{ _tag: "Pingreq" }, { _tag: "Pingresp" }])
      expectReason(parsed.error!.reason, "InvalidPacketType")
      const again = parser.push(hex("c0 00"))
      assert.strictEqual(again.packets.length, 0)
      assert.strictEqual(again.error, parsed.error)
    })

    it("names the problem and the statement in the error message", () => {
      const parsed = Parser.parseAll(hex("36 05 00 01 61 00 01"))
      assert.strictEqual(parsed.error?.message, "PUBLISH: invalid fixed header flags 0x06: QoS 3 [MQTT-3.3.1-4]")
      assert.strictEqual(parsed.error?._tag, "CodecError")
    })

    it("maps errors to the MQTT 5 DISCONNECT reason code a server sends", () => {
      const code = (bytes: string) => Parser.parseAll(hex(bytes), { protocolLevel: 5, maxPacketSize: 50 }).error!
      assert.strictEqual(code("30 ff 01").disconnectReasonCode, 0x95)
      assert.strictEqual(code("30 0c 00 01 61 08 03 00 01 78 03 00 01 79").disconnectReasonCode, 0x82)
      assert.strictEqual(code("30 03 00 0a 61").disconnectReasonCode, 0x81)
    })
  })
})
