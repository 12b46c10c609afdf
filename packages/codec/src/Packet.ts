/**
 * The typed MQTT packet model for protocol levels 3 (MQTT 3.1), 4 (MQTT 3.1.1)
 * and 5 (MQTT 5.0).
 *
 * Every control packet is a tagged struct; `Packet` is their union. The same
 * Schema types the decoder's output, validates packets that arrive from
 * outside a program (a config file, the CLI control channel) and, through
 * Schema's JSON serializer, writes them to dumps and events.
 *
 * One model serves all levels. Fields that only exist in MQTT 5 (properties,
 * reason codes other than success, subscription options) are optional; the
 * encoder refuses them below level 5 instead of dropping them silently.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import {
  AckProperties,
  AuthProperties,
  ConnackProperties,
  ConnectProperties,
  DisconnectProperties,
  PublishProperties,
  SubscribeProperties,
  UnsubscribeProperties,
  WillProperties
} from "./Properties.js"

/** @since 0.1.0 */
export * from "./Properties.js"

const intBetween = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/**
 * MQTT protocol level as carried in CONNECT: 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0.
 * @since 0.1.0
 */
export const ProtocolLevel = Schema.Literals([3, 4, 5])
/** @since 0.1.0 */
export type ProtocolLevel = typeof ProtocolLevel.Type

/**
 * Quality of service of a message or subscription.
 * @since 0.1.0
 */
export const QoS = Schema.Literals([0, 1, 2])
/** @since 0.1.0 */
export type QoS = typeof QoS.Type

/**
 * A non-zero 16-bit packet identifier [MQTT-2.3.1-1].
 * @since 0.1.0
 */
export const PacketId = intBetween(1, 65535)

/**
 * A reason code (MQTT 5) or return code (CONNACK/SUBACK below MQTT 5): one byte.
 * @since 0.1.0
 */
export const ReasonCode = intBetween(0, 255)

const UInt16 = intBetween(0, 65535)

/**
 * The will message of a CONNECT.
 * @since 0.1.0
 */
export const Will = Schema.Struct({
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: QoS,
  retain: Schema.Boolean,
  properties: Schema.optionalKey(WillProperties)
})
/** @since 0.1.0 */
export type Will = typeof Will.Type

/**
 * CONNECT (client → server). `clean` is Clean Session (3.1, 3.1.1) or Clean Start (5.0).
 * The protocol name is implied by the level: "MQIsdp" for 3, "MQTT" for 4 and 5.
 * @since 0.1.0
 */
export const Connect = Schema.TaggedStruct("Connect", {
  protocolLevel: ProtocolLevel,
  clean: Schema.Boolean,
  keepAlive: UInt16,
  clientId: Schema.String,
  will: Schema.optionalKey(Will),
  username: Schema.optionalKey(Schema.String),
  password: Schema.optionalKey(Schema.Uint8Array),
  properties: Schema.optionalKey(ConnectProperties)
})
/** @since 0.1.0 */
export type Connect = typeof Connect.Type

/**
 * CONNACK (server → client). `reasonCode` is the Connect Return Code below MQTT 5.
 * @since 0.1.0
 */
export const Connack = Schema.TaggedStruct("Connack", {
  sessionPresent: Schema.Boolean,
  reasonCode: ReasonCode,
  properties: Schema.optionalKey(ConnackProperties)
})
/** @since 0.1.0 */
export type Connack = typeof Connack.Type

/**
 * PUBLISH (both directions). `packetId` is present exactly when `qos` > 0.
 * @since 0.1.0
 */
export const Publish = Schema.TaggedStruct("Publish", {
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: QoS,
  retain: Schema.Boolean,
  dup: Schema.Boolean,
  packetId: Schema.optionalKey(PacketId),
  properties: Schema.optionalKey(PublishProperties)
})
/** @since 0.1.0 */
export type Publish = typeof Publish.Type

const ackFields = {
  packetId: PacketId,
  /** Absent means 0 (success). The decoder always fills it in. */
  reasonCode: Schema.optionalKey(ReasonCode),
  properties: Schema.optionalKey(AckProperties)
}

/**
 * PUBACK: acknowledges a QoS 1 PUBLISH.
 * @since 0.1.0
 */
export const Puback = Schema.TaggedStruct("Puback", ackFields)
/** @since 0.1.0 */
export type Puback = typeof Puback.Type

/**
 * PUBREC: first acknowledgement of a QoS 2 PUBLISH.
 * @since 0.1.0
 */
export const Pubrec = Schema.TaggedStruct("Pubrec", ackFields)
/** @since 0.1.0 */
export type Pubrec = typeof Pubrec.Type

/**
 * PUBREL: answers PUBREC in the QoS 2 flow.
 * @since 0.1.0
 */
export const Pubrel = Schema.TaggedStruct("Pubrel", ackFields)
/** @since 0.1.0 */
export type Pubrel = typeof Pubrel.Type

/**
 * PUBCOMP: completes the QoS 2 flow.
 * @since 0.1.0
 */
export const Pubcomp = Schema.TaggedStruct("Pubcomp", ackFields)
/** @since 0.1.0 */
export type Pubcomp = typeof Pubcomp.Type

/**
 * One topic filter of a SUBSCRIBE with its options. The options other than
 * `qos` exist from MQTT 5 on; absent means false / 0, and the decoder always
 * fills them in.
 * @since 0.1.0
 */
export const Subscription = Schema.Struct({
  topicFilter: Schema.String,
  qos: QoS,
  noLocal: Schema.optionalKey(Schema.Boolean),
  retainAsPublished: Schema.optionalKey(Schema.Boolean),
  retainHandling: Schema.optionalKey(Schema.Literals([0, 1, 2]))
})
/** @since 0.1.0 */
export type Subscription = typeof Subscription.Type

/**
 * SUBSCRIBE (client → server).
 * @since 0.1.0
 */
export const Subscribe = Schema.TaggedStruct("Subscribe", {
  packetId: PacketId,
  subscriptions: Schema.Array(Subscription),
  properties: Schema.optionalKey(SubscribeProperties)
})
/** @since 0.1.0 */
export type Subscribe = typeof Subscribe.Type

/**
 * SUBACK (server → client): one return/reason code per requested filter.
 * @since 0.1.0
 */
export const Suback = Schema.TaggedStruct("Suback", {
  packetId: PacketId,
  reasonCodes: Schema.Array(ReasonCode),
  properties: Schema.optionalKey(AckProperties)
})
/** @since 0.1.0 */
export type Suback = typeof Suback.Type

/**
 * UNSUBSCRIBE (client → server).
 * @since 0.1.0
 */
export const Unsubscribe = Schema.TaggedStruct("Unsubscribe", {
  packetId: PacketId,
  topicFilters: Schema.Array(Schema.String),
  properties: Schema.optionalKey(UnsubscribeProperties)
})
/** @since 0.1.0 */
export type Unsubscribe = typeof Unsubscribe.Type

/**
 * UNSUBACK (server → client). Reason codes exist from MQTT 5 on; below it the list is empty.
 * @since 0.1.0
 */
export const Unsuback = Schema.TaggedStruct("Unsuback", {
  packetId: PacketId,
  reasonCodes: Schema.Array(ReasonCode),
  properties: Schema.optionalKey(AckProperties)
})
/** @since 0.1.0 */
export type Unsuback = typeof Unsuback.Type

/**
 * PINGREQ (client → server).
 * @since 0.1.0
 */
export const Pingreq = Schema.TaggedStruct("Pingreq", {})
/** @since 0.1.0 */
export type Pingreq = typeof Pingreq.Type

/**
 * PINGRESP (server → client).
 * @since 0.1.0
 */
export const Pingresp = Schema.TaggedStruct("Pingresp", {})
/** @since 0.1.0 */
export type Pingresp = typeof Pingresp.Type

/**
 * DISCONNECT (client → server; also server → client from MQTT 5 on).
 * @since 0.1.0
 */
export const Disconnect = Schema.TaggedStruct("Disconnect", {
  /** Absent means 0 (normal disconnection). The decoder always fills it in. */
  reasonCode: Schema.optionalKey(ReasonCode),
  properties: Schema.optionalKey(DisconnectProperties)
})
/** @since 0.1.0 */
export type Disconnect = typeof Disconnect.Type

/**
 * AUTH (MQTT 5 only, both directions).
 * @since 0.1.0
 */
export const Auth = Schema.TaggedStruct("Auth", {
  /** Absent means 0 (success). The decoder always fills it in. */
  reasonCode: Schema.optionalKey(ReasonCode),
  properties: Schema.optionalKey(AuthProperties)
})
/** @since 0.1.0 */
export type Auth = typeof Auth.Type

/**
 * Any MQTT control packet.
 * @since 0.1.0
 */
export const Packet = Schema.Union([
  Connect,
  Connack,
  Publish,
  Puback,
  Pubrec,
  Pubrel,
  Pubcomp,
  Subscribe,
  Suback,
  Unsubscribe,
  Unsuback,
  Pingreq,
  Pingresp,
  Disconnect,
  Auth
])
/** @since 0.1.0 */
export type Packet = typeof Packet.Type

/**
 * The `_tag` of a packet.
 * @since 0.1.0
 */
export type PacketTag = Packet["_tag"]

/**
 * The control packet type number (bits 7-4 of the first byte) of each packet tag.
 * @since 0.1.0
 */
export const typeNumber: { readonly [K in PacketTag]: number } = {
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14,
  Auth: 15
}

/**
 * The packet tag of each control packet type number (index 0 is reserved).
 * @since 0.1.0
 */
export const tagOfType: ReadonlyArray<PacketTag | undefined> = [
  undefined,
  "Connect",
  "Connack",
  "Publish",
  "Puback",
  "Pubrec",
  "Pubrel",
  "Pubcomp",
  "Subscribe",
  "Suback",
  "Unsubscribe",
  "Unsuback",
  "Pingreq",
  "Pingresp",
  "Disconnect",
  "Auth"
]

/**
 * The spec's upper-case name of a packet ("PUBACK"), for messages.
 * @since 0.1.0
 */
export const packetName = (tag: PacketTag): string => tag.toUpperCase()
