/**
 * Packets in the form the decoder produces (defaults filled in), covering
 * every packet type at every protocol level with the field combinations
 * that change the bytes.
 */
import type { Packet } from "@mqttest/codec"

type P = Packet.Packet
type Level = Packet.ProtocolLevel

const bytes = (...values: Array<number>) => new Uint8Array(values)
const text = (s: string) => new TextEncoder().encode(s)
const filled = (size: number) => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff
  return out
}

const connects = (level: Level): Array<P> => {
  const base = { _tag: "Connect", protocolLevel: level, clean: true, keepAlive: 60, clientId: "client-1" } as const
  const out: Array<P> = [
    base,
    { ...base, clean: false, keepAlive: 0, clientId: "" },
    { ...base, keepAlive: 65535, username: "user", password: bytes(0, 1, 2, 255) },
    { ...base, username: "only-user" },
    // Password without user name: representable, and a server must judge it [MQTT-3.1.2-22].
    { ...base, password: text("secret") },
    { ...base, clientId: "ünïcödé-✓-😀", will: { topic: "will/topic", payload: text("bye"), qos: 0, retain: false } },
    {
      ...base,
      will: { topic: "w", payload: new Uint8Array(0), qos: 1, retain: true },
      username: "u",
      password: bytes()
    },
    { ...base, will: { topic: "w/2", payload: filled(300), qos: 2, retain: false } }
  ]
  if (level === 5) {
    out.push(
      {
        ...base,
        properties: {
          sessionExpiryInterval: 4294967295,
          receiveMaximum: 20,
          maximumPacketSize: 1024,
          topicAliasMaximum: 10,
          requestResponseInformation: true,
          requestProblemInformation: false,
          userProperties: [
            ["a", "1"],
            ["b", "2"],
            ["a", "3"]
          ],
          authenticationMethod: "SCRAM-SHA-1",
          authenticationData: bytes(1, 2, 3)
        },
        will: {
          topic: "will/5",
          payload: text('{"gone":true}'),
          qos: 1,
          retain: true,
          properties: {
            willDelayInterval: 30,
            payloadFormatIndicator: 1,
            messageExpiryInterval: 3600,
            contentType: "application/json",
            responseTopic: "reply/here",
            correlationData: bytes(9, 8, 7),
            userProperties: [["k", "v"]]
          }
        }
      },
      { ...base, properties: { sessionExpiryInterval: 0 } }
    )
  }
  return out
}

const connacks = (level: Level): Array<P> => {
  if (level !== 5) {
    return [
      { _tag: "Connack", sessionPresent: false, reasonCode: 0 },
      { _tag: "Connack", sessionPresent: true, reasonCode: 0 },
      { _tag: "Connack", sessionPresent: false, reasonCode: 5 }
    ]
  }
  return [
    { _tag: "Connack", sessionPresent: false, reasonCode: 0 },
    { _tag: "Connack", sessionPresent: false, reasonCode: 0x84 },
    {
      _tag: "Connack",
      sessionPresent: true,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 120,
        receiveMaximum: 65535,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 268435460,
        assignedClientIdentifier: "auto-1234",
        topicAliasMaximum: 0,
        reasonString: "welcome",
        userProperties: [["x", "y"]],
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: true,
        serverKeepAlive: 30,
        responseInformation: "resp/",
        serverReference: "other:1883",
        authenticationMethod: "m",
        authenticationData: bytes(0)
      }
    }
  ]
}

const publishes = (level: Level): Array<P> => {
  const base = { _tag: "Publish", topic: "a/b/c", payload: text("hello"), qos: 0, retain: false, dup: false } as const
  const out: Array<P> = [
    base,
    { ...base, retain: true, payload: new Uint8Array(0) },
    { ...base, qos: 1, packetId: 1 },
    { ...base, qos: 1, packetId: 65535, dup: true },
    { ...base, qos: 2, packetId: 300, retain: true, dup: true },
    { ...base, topic: "ü/🚀/$x", qos: 2, packetId: 2 },
    // 127 / 128 / 16383 / 16384 body bytes: the Remaining Length grows from 1 to 3 bytes.
    { ...base, topic: "t", payload: filled(127 - 3) },
    { ...base, topic: "t", payload: filled(128 - 3) },
    { ...base, topic: "t", payload: filled(16383 - 3) },
    { ...base, topic: "t", payload: filled(16384 - 3) }
  ]
  if (level === 5) {
    out.push(
      { ...base, topic: "", qos: 1, packetId: 5, properties: { topicAlias: 3 } },
      {
        ...base,
        qos: 2,
        packetId: 9,
        properties: {
          payloadFormatIndicator: 1,
          messageExpiryInterval: 10,
          topicAlias: 65535,
          responseTopic: "r/t",
          correlationData: bytes(1, 2),
          userProperties: [
            ["n", "1"],
            ["n", "2"],
            ["m", ""]
          ],
          subscriptionIdentifiers: [1, 268435455, 300],
          contentType: "text/plain; charset=utf-8"
        }
      }
    )
  }
  return out
}

const acks = (level: Level): Array<P> => {
  const out: Array<P> = []
  for (const tag of ["Puback", "Pubrec", "Pubrel", "Pubcomp"] as const) {
    out.push({ _tag: tag, packetId: 1, reasonCode: 0 }, { _tag: tag, packetId: 65535, reasonCode: 0 })
    if (level === 5) {
      const code = tag === "Pubrel" || tag === "Pubcomp" ? 0x92 : 0x10
      out.push(
        { _tag: tag, packetId: 2, reasonCode: code },
        { _tag: tag, packetId: 3, reasonCode: 0, properties: { reasonString: "fine" } },
        { _tag: tag, packetId: 4, reasonCode: code, properties: { reasonString: "why", userProperties: [["a", "b"]] } }
      )
    }
  }
  return out
}

const subscriptions = (level: Level): Array<P> => {
  const opts = { noLocal: false, retainAsPublished: false, retainHandling: 0 } as const
  const out: Array<P> = [
    { _tag: "Subscribe", packetId: 10, subscriptions: [{ topicFilter: "a/+/c", qos: 0, ...opts }] },
    {
      _tag: "Subscribe",
      packetId: 11,
      subscriptions: [
        { topicFilter: "#", qos: 1, ...opts },
        { topicFilter: "$SYS/#", qos: 2, ...opts },
        { topicFilter: "sport/tennis/+", qos: 0, ...opts }
      ]
    },
    { _tag: "Suback", packetId: 11, reasonCodes: [0, 1, 2, 0x80] },
    { _tag: "Unsubscribe", packetId: 12, topicFilters: ["a/+/c"] },
    { _tag: "Unsubscribe", packetId: 13, topicFilters: ["#", "x/y"] },
    { _tag: "Unsuback", packetId: 13, reasonCodes: level === 5 ? [0, 0x11] : [] }
  ]
  if (level === 5) {
    out.push(
      {
        _tag: "Subscribe",
        packetId: 14,
        subscriptions: [
          { topicFilter: "a", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
          { topicFilter: "$share/g/b/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 1 }
        ],
        properties: { subscriptionIdentifier: 268435455, userProperties: [["s", "1"]] }
      },
      { _tag: "Suback", packetId: 14, reasonCodes: [0x02, 0x9e, 0xa2], properties: { reasonString: "no shares" } },
      { _tag: "Unsubscribe", packetId: 15, topicFilters: ["a"], properties: { userProperties: [["u", "v"]] } },
      { _tag: "Unsuback", packetId: 15, reasonCodes: [0x80], properties: { reasonString: "denied" } }
    )
  }
  return out
}

const control = (level: Level): Array<P> => {
  const out: Array<P> = [{ _tag: "Pingreq" }, { _tag: "Pingresp" }, { _tag: "Disconnect", reasonCode: 0 }]
  if (level === 5) {
    out.push(
      { _tag: "Disconnect", reasonCode: 0x8e },
      {
        _tag: "Disconnect",
        reasonCode: 0x04,
        properties: {
          sessionExpiryInterval: 0,
          reasonString: "bye",
          userProperties: [["a", "b"]],
          serverReference: "s"
        }
      },
      { _tag: "Disconnect", reasonCode: 0, properties: { reasonString: "ok" } },
      { _tag: "Auth", reasonCode: 0 },
      { _tag: "Auth", reasonCode: 0x18, properties: { authenticationMethod: "SCRAM", authenticationData: bytes(1) } },
      { _tag: "Auth", reasonCode: 0x19, properties: { reasonString: "again", userProperties: [["r", "1"]] } }
    )
  }
  return out
}

/** Every sample packet of a level except CONNECT (whose level is its own). */
export const samples = (level: Level): Array<P> => [
  ...connacks(level),
  ...publishes(level),
  ...acks(level),
  ...subscriptions(level),
  ...control(level)
]

/** CONNECT samples of a level. */
export const connectSamples = connects

export const levels: ReadonlyArray<Level> = [3, 4, 5]

/** Concatenates byte arrays. */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** Bytes from a hex string such as "30 05 00 01 61". */
export const hex = (s: string): Uint8Array => {
  const clean = s.replace(/\s+/g, "")
  const out = new Uint8Array(clean.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16)
  return out
}
