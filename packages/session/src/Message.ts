/**
 * An application message as the broker holds it: what was published, by
 * whom and when, independent of any packet id or connection.
 *
 * @since 0.1.0
 */
import type { Packet } from "@mqttest/codec"

/**
 * @since 0.1.0
 */
export interface Message {
  readonly topic: string
  readonly payload: Uint8Array
  readonly qos: Packet.QoS
  readonly retain: boolean
  /** MQTT 5 properties to pass on (never topic alias or subscription identifiers). */
  readonly properties?: Packet.PublishProperties | undefined
  /** Client id of the publisher; undefined for messages the server publishes itself. */
  readonly publisher?: string | undefined
  /** When the broker received it (Clock millis), for the Message Expiry Interval. */
  readonly receivedAt: number
}

/**
 * The message's properties without the ones that belong to one hop
 * (topic alias, subscription identifiers) [MQTT-3.3.2-7] [MQTT-3.3.4-6].
 * @since 0.1.0
 */
export const forwardedProperties = (
  properties: Packet.PublishProperties | undefined
): Packet.PublishProperties | undefined => {
  if (properties === undefined) return undefined
  const { topicAlias: _alias, subscriptionIdentifiers: _ids, ...rest } = properties
  return Object.keys(rest).length === 0 ? undefined : rest
}

/**
 * The seconds left of a message's expiry interval at `now`, or undefined when
 * it has none; 0 or less means expired.
 * @since 0.1.0
 */
export const remainingExpiry = (message: Message, now: number): number | undefined => {
  const interval = message.properties?.messageExpiryInterval
  if (interval === undefined) return undefined
  return interval - Math.floor((now - message.receivedAt) / 1000)
}
