/**
 * The MQTT 5 properties of each packet, as Schema: every property typed
 * once, and the set each packet may carry. Re-exported by `Packet`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const intBetween = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const UInt16 = intBetween(0, 65535)
const UInt32 = intBetween(0, 4294967295)
const NonZeroUInt16 = intBetween(1, 65535)
const NonZeroUInt32 = intBetween(1, 4294967295)
/** Largest value of a Variable Byte Integer. */
const VarInt = intBetween(1, 268435455)

/**
 * MQTT 5 user properties, in wire order. Names may repeat [MQTT-3.3.2-18].
 * @since 0.1.0
 */
export const UserProperties = Schema.Array(Schema.Tuple([Schema.String, Schema.String]))

// Every MQTT 5 property, typed once; the per-packet property sets below pick from these.
const P = {
  payloadFormatIndicator: Schema.optionalKey(Schema.Literals([0, 1])),
  messageExpiryInterval: Schema.optionalKey(UInt32),
  contentType: Schema.optionalKey(Schema.String),
  responseTopic: Schema.optionalKey(Schema.String),
  correlationData: Schema.optionalKey(Schema.Uint8Array),
  subscriptionIdentifier: Schema.optionalKey(VarInt),
  subscriptionIdentifiers: Schema.optionalKey(Schema.Array(VarInt)),
  sessionExpiryInterval: Schema.optionalKey(UInt32),
  assignedClientIdentifier: Schema.optionalKey(Schema.String),
  serverKeepAlive: Schema.optionalKey(UInt16),
  authenticationMethod: Schema.optionalKey(Schema.String),
  authenticationData: Schema.optionalKey(Schema.Uint8Array),
  requestProblemInformation: Schema.optionalKey(Schema.Boolean),
  willDelayInterval: Schema.optionalKey(UInt32),
  requestResponseInformation: Schema.optionalKey(Schema.Boolean),
  responseInformation: Schema.optionalKey(Schema.String),
  serverReference: Schema.optionalKey(Schema.String),
  reasonString: Schema.optionalKey(Schema.String),
  receiveMaximum: Schema.optionalKey(NonZeroUInt16),
  topicAliasMaximum: Schema.optionalKey(UInt16),
  topicAlias: Schema.optionalKey(NonZeroUInt16),
  maximumQoS: Schema.optionalKey(Schema.Literals([0, 1])),
  retainAvailable: Schema.optionalKey(Schema.Boolean),
  userProperties: Schema.optionalKey(UserProperties),
  maximumPacketSize: Schema.optionalKey(NonZeroUInt32),
  wildcardSubscriptionAvailable: Schema.optionalKey(Schema.Boolean),
  subscriptionIdentifiersAvailable: Schema.optionalKey(Schema.Boolean),
  sharedSubscriptionAvailable: Schema.optionalKey(Schema.Boolean)
} as const

/**
 * Properties allowed in CONNECT.
 * @since 0.1.0
 */
export const ConnectProperties = Schema.Struct({
  sessionExpiryInterval: P.sessionExpiryInterval,
  receiveMaximum: P.receiveMaximum,
  maximumPacketSize: P.maximumPacketSize,
  topicAliasMaximum: P.topicAliasMaximum,
  requestResponseInformation: P.requestResponseInformation,
  requestProblemInformation: P.requestProblemInformation,
  userProperties: P.userProperties,
  authenticationMethod: P.authenticationMethod,
  authenticationData: P.authenticationData
})
/** @since 0.1.0 */
export type ConnectProperties = typeof ConnectProperties.Type

/**
 * Properties allowed in the will of a CONNECT.
 * @since 0.1.0
 */
export const WillProperties = Schema.Struct({
  willDelayInterval: P.willDelayInterval,
  payloadFormatIndicator: P.payloadFormatIndicator,
  messageExpiryInterval: P.messageExpiryInterval,
  contentType: P.contentType,
  responseTopic: P.responseTopic,
  correlationData: P.correlationData,
  userProperties: P.userProperties
})
/** @since 0.1.0 */
export type WillProperties = typeof WillProperties.Type

/**
 * Properties allowed in CONNACK.
 * @since 0.1.0
 */
export const ConnackProperties = Schema.Struct({
  sessionExpiryInterval: P.sessionExpiryInterval,
  receiveMaximum: P.receiveMaximum,
  maximumQoS: P.maximumQoS,
  retainAvailable: P.retainAvailable,
  maximumPacketSize: P.maximumPacketSize,
  assignedClientIdentifier: P.assignedClientIdentifier,
  topicAliasMaximum: P.topicAliasMaximum,
  reasonString: P.reasonString,
  userProperties: P.userProperties,
  wildcardSubscriptionAvailable: P.wildcardSubscriptionAvailable,
  subscriptionIdentifiersAvailable: P.subscriptionIdentifiersAvailable,
  sharedSubscriptionAvailable: P.sharedSubscriptionAvailable,
  serverKeepAlive: P.serverKeepAlive,
  responseInformation: P.responseInformation,
  serverReference: P.serverReference,
  authenticationMethod: P.authenticationMethod,
  authenticationData: P.authenticationData
})
/** @since 0.1.0 */
export type ConnackProperties = typeof ConnackProperties.Type

/**
 * Properties allowed in PUBLISH. A PUBLISH from server to client may carry
 * several subscription identifiers, so they are a list here.
 * @since 0.1.0
 */
export const PublishProperties = Schema.Struct({
  payloadFormatIndicator: P.payloadFormatIndicator,
  messageExpiryInterval: P.messageExpiryInterval,
  topicAlias: P.topicAlias,
  responseTopic: P.responseTopic,
  correlationData: P.correlationData,
  userProperties: P.userProperties,
  subscriptionIdentifiers: P.subscriptionIdentifiers,
  contentType: P.contentType
})
/** @since 0.1.0 */
export type PublishProperties = typeof PublishProperties.Type

/**
 * Properties allowed in PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
 * @since 0.1.0
 */
export const AckProperties = Schema.Struct({
  reasonString: P.reasonString,
  userProperties: P.userProperties
})
/** @since 0.1.0 */
export type AckProperties = typeof AckProperties.Type

/**
 * Properties allowed in SUBSCRIBE.
 * @since 0.1.0
 */
export const SubscribeProperties = Schema.Struct({
  subscriptionIdentifier: P.subscriptionIdentifier,
  userProperties: P.userProperties
})
/** @since 0.1.0 */
export type SubscribeProperties = typeof SubscribeProperties.Type

/**
 * Properties allowed in UNSUBSCRIBE.
 * @since 0.1.0
 */
export const UnsubscribeProperties = Schema.Struct({
  userProperties: P.userProperties
})
/** @since 0.1.0 */
export type UnsubscribeProperties = typeof UnsubscribeProperties.Type

/**
 * Properties allowed in DISCONNECT.
 * @since 0.1.0
 */
export const DisconnectProperties = Schema.Struct({
  sessionExpiryInterval: P.sessionExpiryInterval,
  reasonString: P.reasonString,
  userProperties: P.userProperties,
  serverReference: P.serverReference
})
/** @since 0.1.0 */
export type DisconnectProperties = typeof DisconnectProperties.Type

/**
 * Properties allowed in AUTH.
 * @since 0.1.0
 */
export const AuthProperties = Schema.Struct({
  authenticationMethod: P.authenticationMethod,
  authenticationData: P.authenticationData,
  reasonString: P.reasonString,
  userProperties: P.userProperties
})
/** @since 0.1.0 */
export type AuthProperties = typeof AuthProperties.Type
