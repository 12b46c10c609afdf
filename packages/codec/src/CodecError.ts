/**
 * The one error of the codec, with a `reason` that says precisely what was
 * wrong with the bytes (decoding) or with the packet (encoding), and, where
 * the MQTT specification has one, the id of the normative statement broken.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const spec = Schema.optionalKey(Schema.String)
const packetType = Schema.String

/**
 * The Remaining Length (or another Variable Byte Integer) is longer than
 * 4 bytes or not minimally encoded.
 * @since 0.1.0
 */
export const MalformedVariableInteger = Schema.TaggedStruct("MalformedVariableInteger", {
  field: Schema.String,
  spec
})

/**
 * A packet's size (fixed header included) is larger than the allowed maximum.
 * Reported as soon as the fixed header is read, before the body is buffered.
 * @since 0.1.0
 */
export const PacketTooLarge = Schema.TaggedStruct("PacketTooLarge", {
  size: Schema.Number,
  maximum: Schema.Number,
  spec
})

/**
 * Control packet type 0 (reserved), or 15 (AUTH) below MQTT 5.
 * @since 0.1.0
 */
export const InvalidPacketType = Schema.TaggedStruct("InvalidPacketType", {
  type: Schema.Number,
  spec
})

/**
 * Fixed header flags that the packet type does not allow (reserved bits,
 * QoS 3, DUP on QoS 0).
 * @since 0.1.0
 */
export const InvalidFlags = Schema.TaggedStruct("InvalidFlags", {
  packetType,
  flags: Schema.Number,
  problem: Schema.String,
  spec
})

/**
 * The packet ended (by its Remaining Length) before a field was complete.
 * @since 0.1.0
 */
export const Truncated = Schema.TaggedStruct("Truncated", {
  packetType,
  field: Schema.String,
  spec
})

/**
 * Bytes left over after the last field of a packet: for example an MQTT 5
 * reason code or properties sent on a 3.1.1 connection.
 * @since 0.1.0
 */
export const TrailingBytes = Schema.TaggedStruct("TrailingBytes", {
  packetType,
  count: Schema.Number,
  spec
})

/**
 * A UTF-8 string field that is ill-formed or contains U+0000.
 * @since 0.1.0
 */
export const InvalidString = Schema.TaggedStruct("InvalidString", {
  packetType,
  field: Schema.String,
  problem: Schema.String,
  spec
})

/**
 * A CONNECT whose protocol name is neither "MQTT" nor "MQIsdp".
 * @since 0.1.0
 */
export const InvalidProtocolName = Schema.TaggedStruct("InvalidProtocolName", {
  protocolName: Schema.String,
  spec
})

/**
 * A CONNECT with a protocol level this server does not speak (or a level
 * that does not go with its protocol name). A server answers it with CONNACK
 * return code 0x01 (3.1.1) or reason code 0x84 (5.0).
 * @since 0.1.0
 */
export const UnsupportedProtocolLevel = Schema.TaggedStruct("UnsupportedProtocolLevel", {
  protocolName: Schema.String,
  level: Schema.Number,
  spec
})

/**
 * CONNECT flags that contradict each other or set the reserved bit.
 * @since 0.1.0
 */
export const InvalidConnectFlags = Schema.TaggedStruct("InvalidConnectFlags", {
  flags: Schema.Number,
  problem: Schema.String,
  spec
})

/**
 * A packet identifier of 0 where a non-zero one is required.
 * @since 0.1.0
 */
export const InvalidPacketId = Schema.TaggedStruct("InvalidPacketId", {
  packetType,
  spec
})

/**
 * Subscription options with reserved bits set, QoS 3, or retain handling 3.
 * @since 0.1.0
 */
export const InvalidSubscriptionOptions = Schema.TaggedStruct("InvalidSubscriptionOptions", {
  topicFilter: Schema.String,
  options: Schema.Number,
  problem: Schema.String,
  spec
})

/**
 * A SUBSCRIBE, UNSUBSCRIBE, SUBACK or UNSUBACK without a single entry.
 * @since 0.1.0
 */
export const EmptyPayload = Schema.TaggedStruct("EmptyPayload", {
  packetType,
  spec
})

/**
 * A reason or return code that the packet type may not carry.
 * @since 0.1.0
 */
export const InvalidReasonCode = Schema.TaggedStruct("InvalidReasonCode", {
  packetType,
  code: Schema.Number,
  spec
})

/**
 * A property identifier that MQTT 5 does not define.
 * @since 0.1.0
 */
export const UnknownProperty = Schema.TaggedStruct("UnknownProperty", {
  packetType,
  id: Schema.Number,
  spec
})

/**
 * A property that exists but may not appear in this packet.
 * @since 0.1.0
 */
export const PropertyNotAllowed = Schema.TaggedStruct("PropertyNotAllowed", {
  packetType,
  property: Schema.String,
  spec
})

/**
 * A property that may appear only once, repeated.
 * @since 0.1.0
 */
export const DuplicateProperty = Schema.TaggedStruct("DuplicateProperty", {
  packetType,
  property: Schema.String,
  spec
})

/**
 * A property value outside its allowed range (e.g. Receive Maximum 0).
 * @since 0.1.0
 */
export const InvalidPropertyValue = Schema.TaggedStruct("InvalidPropertyValue", {
  packetType,
  property: Schema.String,
  value: Schema.String,
  spec
})

/**
 * The byte stream ended in the middle of a packet.
 * @since 0.1.0
 */
export const IncompletePacket = Schema.TaggedStruct("IncompletePacket", {
  bufferedBytes: Schema.Number,
  spec
})

/**
 * The encoder was given a packet it cannot write at the requested protocol
 * level (a field out of range, an MQTT 5 feature below level 5, …).
 * @since 0.1.0
 */
export const InvalidPacket = Schema.TaggedStruct("InvalidPacket", {
  packetType,
  problem: Schema.String,
  spec
})

/**
 * Every reason a decode or encode can fail.
 * @since 0.1.0
 */
export const CodecErrorReason = Schema.Union([
  MalformedVariableInteger,
  PacketTooLarge,
  InvalidPacketType,
  InvalidFlags,
  Truncated,
  TrailingBytes,
  InvalidString,
  InvalidProtocolName,
  UnsupportedProtocolLevel,
  InvalidConnectFlags,
  InvalidPacketId,
  InvalidSubscriptionOptions,
  EmptyPayload,
  InvalidReasonCode,
  UnknownProperty,
  PropertyNotAllowed,
  DuplicateProperty,
  InvalidPropertyValue,
  IncompletePacket,
  InvalidPacket
])
/** @since 0.1.0 */
export type CodecErrorReason = typeof CodecErrorReason.Type

const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`

/**
 * A one-line human description of a reason.
 * @since 0.1.0
 */
export const describeReason = (reason: CodecErrorReason): string => {
  const text = ((): string => {
    switch (reason._tag) {
      case "MalformedVariableInteger":
        return `malformed variable byte integer in ${reason.field} (more than 4 bytes or not minimally encoded)`
      case "PacketTooLarge":
        return `packet of ${reason.size} bytes exceeds the maximum packet size of ${reason.maximum} bytes`
      case "InvalidPacketType":
        return `invalid control packet type ${reason.type}`
      case "InvalidFlags":
        return `${reason.packetType}: invalid fixed header flags ${hex(reason.flags)}: ${reason.problem}`
      case "Truncated":
        return `${reason.packetType}: packet ends before ${reason.field} is complete`
      case "TrailingBytes":
        return `${reason.packetType}: ${reason.count} unexpected byte(s) after the last field`
      case "InvalidString":
        return `${reason.packetType}: ${reason.field} is not a valid MQTT string: ${reason.problem}`
      case "InvalidProtocolName":
        return `CONNECT: invalid protocol name ${JSON.stringify(reason.protocolName)}`
      case "UnsupportedProtocolLevel":
        return `CONNECT: unsupported protocol level ${reason.level} for protocol name ${JSON.stringify(
          reason.protocolName
        )}`
      case "InvalidConnectFlags":
        return `CONNECT: invalid connect flags ${hex(reason.flags)}: ${reason.problem}`
      case "InvalidPacketId":
        return `${reason.packetType}: packet identifier must not be 0`
      case "InvalidSubscriptionOptions":
        return `SUBSCRIBE: invalid options ${hex(reason.options)} for ${JSON.stringify(
          reason.topicFilter
        )}: ${reason.problem}`
      case "EmptyPayload":
        return `${reason.packetType}: payload must contain at least one entry`
      case "InvalidReasonCode":
        return `${reason.packetType}: reason code ${hex(reason.code)} is not allowed in this packet`
      case "UnknownProperty":
        return `${reason.packetType}: unknown property identifier ${hex(reason.id)}`
      case "PropertyNotAllowed":
        return `${reason.packetType}: property ${reason.property} is not allowed in this packet`
      case "DuplicateProperty":
        return `${reason.packetType}: property ${reason.property} appears more than once`
      case "InvalidPropertyValue":
        return `${reason.packetType}: invalid value ${reason.value} for property ${reason.property}`
      case "IncompletePacket":
        return `input ended in the middle of a packet (${reason.bufferedBytes} byte(s) buffered)`
      case "InvalidPacket":
        return `${reason.packetType}: cannot encode: ${reason.problem}`
    }
  })()
  return reason.spec === undefined ? text : `${text} [${reason.spec}]`
}

/**
 * A decode or encode failure. `message` describes the reason in one line.
 * @since 0.1.0
 */
export class CodecError extends Schema.TaggedError<CodecError>()("CodecError", {
  reason: CodecErrorReason
}) {
  override get message(): string {
    return describeReason(this.reason)
  }

  /**
   * The MQTT 5 DISCONNECT reason code a server sends before closing a
   * connection over this error: 0x95 Packet Too Large, 0x82 Protocol Error
   * for well-formed bytes with a forbidden meaning, 0x81 Malformed Packet
   * otherwise.
   */
  get disconnectReasonCode(): number {
    switch (this.reason._tag) {
      case "PacketTooLarge":
        return 0x95
      case "DuplicateProperty":
      case "InvalidPropertyValue":
      case "PropertyNotAllowed":
      case "InvalidPacketType":
        return 0x82
      default:
        return 0x81
    }
  }
}

/**
 * Builds a CodecError from a reason (the `_tag` is filled in).
 * @since 0.1.0
 */
export const make = <R extends CodecErrorReason>(reason: R): CodecError => new CodecError({ reason })
