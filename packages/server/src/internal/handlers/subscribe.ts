/**
 * SUBSCRIBE and UNSUBSCRIBE.
 */
import type { Packet } from "@mqttest/codec"
import { ReasonCode } from "@mqttest/codec"
import { type SubscriptionIndex, Topic } from "@mqttest/session"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"
import * as Decisions from "../decisions.js"
import * as Routing from "../routing.js"

export const handleSubscribe = (broker: Broker, conn: Connection, packet: Packet.Subscribe): void => {
  const session = conn.session!
  const v5 = conn.level === 5
  const caps = broker.config.capabilities
  const subscriptionIdentifier = packet.properties?.subscriptionIdentifier
  if (subscriptionIdentifier !== undefined && !caps.subscriptionIdentifiersAvailable) {
    return broker.violation(
      conn,
      "subscription identifier sent, but the server does not support them",
      "MQTT-3.8.2-1",
      ReasonCode.V5.SubscriptionIdentifiersNotSupported
    )
  }
  const reasonCodes: Array<number> = []
  const problems: Array<string> = []
  const refuse = (code: number, problem: string, spec?: string) => {
    broker.warn(conn, `SUBSCRIBE: ${problem}`, spec)
    reasonCodes.push(code)
    problems.push(problem)
  }
  const retained: Array<readonly [Topic.ParsedFilter, SubscriptionIndex.Subscription, boolean]> = []
  for (const s of packet.subscriptions) {
    const parsed = Topic.parseFilter(s.topicFilter, conn.level)
    if (Topic.isProblem(parsed)) {
      refuse(v5 ? ReasonCode.V5.TopicFilterInvalid : ReasonCode.V3SubackFailure, parsed.problem, parsed.spec)
      continue
    }
    if (v5 && !caps.wildcardSubscriptionAvailable && Topic.hasWildcard(parsed.levels.join("/"))) {
      refuse(ReasonCode.V5.WildcardSubscriptionsNotSupported, `wildcards are not supported: ${parsed.filter}`)
      continue
    }
    if (v5 && !caps.sharedSubscriptionAvailable && parsed.shareGroup !== undefined) {
      refuse(ReasonCode.V5.SharedSubscriptionsNotSupported, `shared subscriptions are not supported: ${parsed.filter}`)
      continue
    }
    const refused = Decisions.refusal(broker, conn, "refuseSubscribe", s.topicFilter)
    if (refused !== undefined) {
      reasonCodes.push(v5 ? refused : ReasonCode.V3SubackFailure)
      problems.push(`subscription to ${parsed.filter} refused`)
      continue
    }
    if (parsed.shareGroup !== undefined && s.noLocal === true) {
      return broker.violation(conn, "No Local set on a shared subscription", "MQTT-3.8.3-4")
    }
    const subscription: SubscriptionIndex.Subscription = {
      clientId: session.clientId,
      topicFilter: parsed.filter,
      shareGroup: parsed.shareGroup,
      // Granted QoS: what was asked for, at most the server's maximum [MQTT-3.2.2-9].
      qos: Math.min(s.qos, caps.maximumQoS) as Packet.QoS,
      noLocal: s.noLocal ?? false,
      retainAsPublished: s.retainAsPublished ?? false,
      retainHandling: s.retainHandling ?? 0,
      subscriptionIdentifier
    }
    const existed = broker.deps.store.subscribe(session, parsed, subscription)
    reasonCodes.push(subscription.qos)
    retained.push([parsed, subscription, existed])
  }
  Decisions.sendAck(broker, conn, {
    _tag: "Suback",
    packetId: packet.packetId,
    reasonCodes,
    ...(v5 && problems.length > 0 ? { properties: { reasonString: problems.join("; ") } } : {})
  })
  // Retained messages follow the SUBACK, per the subscription's Retain Handling.
  for (const [parsed, s, existed] of retained) {
    if (s.shareGroup !== undefined) continue
    if (s.retainHandling === 0 || (s.retainHandling === 1 && !existed)) {
      Routing.sendRetained(broker, session, parsed.levels, s.qos, s.subscriptionIdentifier)
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
    const refused = Decisions.refusal(broker, conn, "refuseUnsubscribe", filter)
    if (refused !== undefined) {
      // The subscription stays; only MQTT 5 can say so.
      reasonCodes.push(refused)
      continue
    }
    const existed = broker.deps.store.unsubscribe(session, parsed)
    reasonCodes.push(existed ? ReasonCode.V5.Success : ReasonCode.V5.NoSubscriptionExisted)
  }
  Decisions.sendAck(broker, conn, {
    _tag: "Unsuback",
    packetId: packet.packetId,
    reasonCodes: conn.level === 5 ? reasonCodes : []
  })
}
