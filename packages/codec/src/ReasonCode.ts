/**
 * MQTT 5 reason codes, MQTT 3.1/3.1.1 CONNACK return codes, and which codes
 * each packet type may carry.
 *
 * @since 0.1.0
 */
import type { PacketTag, ProtocolLevel } from "./Packet.js"

/**
 * MQTT 5.0 reason codes by name (spec section 2.4).
 * @since 0.1.0
 */
export const V5 = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2
} as const

/**
 * MQTT 3.1 / 3.1.1 CONNACK return codes by name.
 * @since 0.1.0
 */
export const V3Connack = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5
} as const

/**
 * The failure return code of a SUBACK below MQTT 5.
 * @since 0.1.0
 */
export const V3SubackFailure = 0x80

const set = (...codes: ReadonlyArray<number>): ReadonlySet<number> => new Set(codes)

const v5Allowed: Partial<Record<PacketTag, ReadonlySet<number>>> = {
  Connack: set(
    0x00,
    0x80,
    0x81,
    0x82,
    0x83,
    0x84,
    0x85,
    0x86,
    0x87,
    0x88,
    0x89,
    0x8a,
    0x8c,
    0x90,
    0x95,
    0x97,
    0x99,
    0x9a,
    0x9b,
    0x9c,
    0x9d,
    0x9f
  ),
  Puback: set(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
  Pubrec: set(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
  Pubrel: set(0x00, 0x92),
  Pubcomp: set(0x00, 0x92),
  Suback: set(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2),
  Unsuback: set(0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91),
  Disconnect: set(
    0x00,
    0x04,
    0x80,
    0x81,
    0x82,
    0x83,
    0x87,
    0x89,
    0x8b,
    0x8d,
    0x8e,
    0x8f,
    0x90,
    0x93,
    0x94,
    0x95,
    0x96,
    0x97,
    0x98,
    0x99,
    0x9a,
    0x9b,
    0x9c,
    0x9d,
    0x9e,
    0x9f,
    0xa0,
    0xa1,
    0xa2
  ),
  Auth: set(0x00, 0x18, 0x19)
}

const v3Allowed: Partial<Record<PacketTag, ReadonlySet<number>>> = {
  Connack: set(0, 1, 2, 3, 4, 5),
  Suback: set(0, 1, 2, 0x80),
  Puback: set(0),
  Pubrec: set(0),
  Pubrel: set(0),
  Pubcomp: set(0),
  Disconnect: set(0)
}

/**
 * Whether `code` is a reason/return code that packet `tag` may carry at `level`.
 * @since 0.1.0
 */
export const isAllowed = (tag: PacketTag, level: ProtocolLevel, code: number): boolean => {
  const allowed = (level === 5 ? v5Allowed : v3Allowed)[tag]
  return allowed?.has(code) === true
}

const v5Names = new Map<number, string>()
for (const [name, code] of Object.entries(V5)) {
  // The first name of a shared value wins ("Success" for 0x00).
  if (!v5Names.has(code)) v5Names.set(code, name.replace(/([a-z0-9])([A-Z])/g, "$1 $2"))
}

/**
 * A readable name for an MQTT 5 reason code, e.g. "Packet Too Large (0x95)".
 * @since 0.1.0
 */
export const describe = (code: number): string =>
  `${v5Names.get(code) ?? "Unknown reason code"} (0x${code.toString(16).padStart(2, "0")})`
