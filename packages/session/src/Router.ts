/**
 * The router: which clients an application message goes to, at which QoS,
 * with which subscription identifiers and retain flag. A pure function of
 * the matching subscriptions and the message; the caller chooses the member
 * of each shared subscription group.
 *
 * @since 0.1.0
 */
import type { Packet } from "@mqttest/codec"
import type { Message } from "./Message.js"
import type { Subscription } from "./SubscriptionIndex.js"

/**
 * One client a message goes to.
 * @since 0.1.0
 */
export interface Target {
  readonly clientId: string
  /** The lower of the message's QoS and the highest granted QoS of the client's matching subscriptions. */
  readonly qos: Packet.QoS
  /** The retain flag as delivered: set only through a Retain As Published subscription. */
  readonly retain: boolean
  /** The identifiers of every matching subscription that has one [MQTT-3.3.4-3]. */
  readonly subscriptionIds: ReadonlyArray<number>
}

/**
 * Picks the member of a shared subscription group that gets a message:
 * `group` names the group and its filter, `members` is how many there are;
 * the answer is an index in `[0, members)`.
 * @since 0.1.0
 */
export type PickShared = (group: string, members: number) => number

interface Building {
  qos: Packet.QoS
  retain: boolean
  readonly ids: Array<number>
}

const add = (targets: Map<string, Building>, s: Subscription, retain: boolean) => {
  const target = targets.get(s.clientId)
  if (target === undefined) {
    targets.set(s.clientId, {
      qos: s.qos,
      retain,
      ids: s.subscriptionIdentifier === undefined ? [] : [s.subscriptionIdentifier]
    })
    return
  }
  // Overlapping subscriptions: one delivery at the highest granted QoS, with every identifier [MQTT-3.3.4-2].
  if (s.qos > target.qos) target.qos = s.qos
  if (s.subscriptionIdentifier !== undefined) target.ids.push(s.subscriptionIdentifier)
  target.retain ||= retain
}

/**
 * The clients a message goes to, given the subscriptions matching its topic:
 * one delivery per client however many of its subscriptions overlap; No
 * Local subscriptions skip the publisher [MQTT-3.8.3-3]; each shared group
 * delivers to one member, chosen by `pick`; the retain flag survives only
 * through Retain As Published [MQTT-3.3.1-12] [MQTT-3.3.1-13].
 * @since 0.1.0
 */
export const route = (
  subscriptions: Iterable<Subscription>,
  message: Pick<Message, "qos" | "retain" | "publisher">,
  pick: PickShared
): Array<Target> => {
  const targets = new Map<string, Building>()
  const shared = new Map<string, Array<Subscription>>()
  for (const s of subscriptions) {
    if (s.shareGroup !== undefined) {
      const key = `${s.shareGroup}\u0000${s.topicFilter}`
      const members = shared.get(key)
      if (members === undefined) shared.set(key, [s])
      else members.push(s)
      continue
    }
    if (s.noLocal && s.clientId === message.publisher) continue
    add(targets, s, message.retain && s.retainAsPublished)
  }
  for (const [group, members] of shared) add(targets, members[pick(group, members.length) % members.length]!, false)
  const out: Array<Target> = []
  for (const [clientId, target] of targets) {
    out.push({
      clientId,
      qos: Math.min(message.qos, target.qos) as Packet.QoS,
      retain: target.retain,
      subscriptionIds: target.ids
    })
  }
  return out
}

/**
 * Round robin over each group's members, in turn (the default choice).
 * @since 0.1.0
 */
export const roundRobin = (): PickShared => {
  const cursors = new Map<string, number>()
  return (group) => {
    const cursor = cursors.get(group) ?? 0
    cursors.set(group, cursor + 1)
    return cursor
  }
}
