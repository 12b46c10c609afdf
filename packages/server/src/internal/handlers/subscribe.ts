/**
 * SUBSCRIBE and UNSUBSCRIBE.
 */
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import { type SubscriptionIndex, Topic } from "@mqttest/session"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"

export const handleSubscribe = (broker: Broker, conn: Connection, packet: Packet.Subscribe): void => {
  const session = conn.session!
  const v5 = conn.level === 5
  const subscriptionIdentifier = packet.properties?.subscriptionIdentifier
  const reasonCodes: Array<number> = []
  const retained: Array<readonly [Topic.ParsedFilter, SubscriptionIndex.Subscription, boolean]> = []
  for (const s of packet.subscriptions) {
    const parsed = Topic.parseFilter(s.topicFilter, conn.level)
    if (Topic.isProblem(parsed)) {
      broker.warn(conn, `SUBSCRIBE: ${parsed.problem}`, parsed.spec)
      reasonCodes.push(v5 ? ReasonCode.V5.TopicFilterInvalid : ReasonCode.V3SubackFailure)
      continue
    }
    if (parsed.shareGroup !== undefined && s.noLocal === true) {
      return broker.violation(conn, "No Local set on a shared subscription", "MQTT-3.8.3-4")
    }
    const subscription: SubscriptionIndex.Subscription = {
      clientId: session.clientId,
      topicFilter: parsed.filter,
      shareGroup: parsed.shareGroup,
      // Granted QoS: what was asked for; this server supports QoS 2.
      qos: s.qos,
      noLocal: s.noLocal ?? false,
      retainAsPublished: s.retainAsPublished ?? false,
      retainHandling: s.retainHandling ?? 0,
      subscriptionIdentifier
    }
    const existed = session.subscriptions.has(parsed.filter)
    session.subscriptions.set(parsed.filter, subscription)
    broker.index.add(parsed, subscription)
    reasonCodes.push(subscription.qos)
    retained.push([parsed, subscription, existed])
  }
  conn.send({ _tag: "Suback", packetId: packet.packetId, reasonCodes })
  // Retained messages follow the SUBACK, per the subscription's Retain Handling.
  for (const [parsed, s, existed] of retained) {
    if (s.shareGroup !== undefined) continue
    if (s.retainHandling === 0 || (s.retainHandling === 1 && !existed)) {
      broker.sendRetained(session, parsed.levels, s.qos, s.subscriptionIdentifier)
    }
  }
}

export const handleUnsubscribe = (broker: Broker, conn: Connection, packet: Packet.Unsubscribe): void => {
  const session = conn.session!
  const reasonCodes: Array<number> = []
  for (const filter of packet.topicFilters) {
    const parsed = Topic.parseFilter(filter, conn.level)
    if (Topic.isProblem(parsed)) {
      broker.warn(conn, `UNSUBSCRIBE: ${parsed.problem}`, parsed.spec)
      reasonCodes.push(ReasonCode.V5.TopicFilterInvalid)
      continue
    }
    const existed = session.subscriptions.delete(parsed.filter)
    if (existed) broker.index.remove(parsed, session.clientId)
    reasonCodes.push(existed ? ReasonCode.V5.Success : ReasonCode.V5.NoSubscriptionExisted)
  }
  conn.send({ _tag: "Unsuback", packetId: packet.packetId, reasonCodes: conn.level === 5 ? reasonCodes : [] })
}
