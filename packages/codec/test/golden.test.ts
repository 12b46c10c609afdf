/**
 * Golden bytes: the encoder's output is compared with what mqtt-packet (an
 * independent, widely used implementation) generates for the same packet,
 * and with byte sequences worked out by hand from the specification.
 */
import { assert, describe, it } from "@effect/vitest"
import { Encoder, Packet, Parser } from "@mqttest/codec"
import { Result } from "effect"
import mqttPacket from "mqtt-packet"
import { connectSamples, hex, levels, samples } from "./fixtures.js"

const encode = (packet: Packet.Packet, level: Packet.ProtocolLevel) => {
  const result = Encoder.encode(packet, level)
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success
}

const buffer = (bytes: Uint8Array) => Buffer.from(bytes)

// mqtt-packet keeps user properties in an object, so it can only express them grouped by name.
const userProps = (pairs: ReadonlyArray<readonly [string, string]>) => {
  const out: Record<string, string | Array<string>> = {}
  for (const [name, value] of pairs) {
    const previous = out[name]
    out[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value]
  }
  return out
}

const groupedByName = (pairs: ReadonlyArray<readonly [string, string]> | undefined) => {
  if (pairs === undefined) return true
  const names = pairs.map(([name]) => name)
  return names.every((name, i) => i === 0 || name === names[i - 1] || !names.slice(0, i).includes(name))
}

// Property names in identifier order, as our encoder writes them.
const order = [
  "payloadFormatIndicator",
  "messageExpiryInterval",
  "contentType",
  "responseTopic",
  "correlationData",
  "subscriptionIdentifier",
  "subscriptionIdentifiers",
  "sessionExpiryInterval",
  "assignedClientIdentifier",
  "serverKeepAlive",
  "authenticationMethod",
  "authenticationData",
  "requestProblemInformation",
  "willDelayInterval",
  "requestResponseInformation",
  "responseInformation",
  "serverReference",
  "reasonString",
  "receiveMaximum",
  "topicAliasMaximum",
  "topicAlias",
  "maximumQoS",
  "retainAvailable",
  "userProperties",
  "maximumPacketSize",
  "wildcardSubscriptionAvailable",
  "subscriptionIdentifiersAvailable",
  "sharedSubscriptionAvailable"
]

const props = (p: Record<string, unknown> | undefined) => {
  if (p === undefined) return undefined
  const out: Record<string, unknown> = {}
  for (const name of order) {
    const value = p[name]
    if (value === undefined) continue
    if (name === "userProperties") out[name] = userProps(value as Array<readonly [string, string]>)
    else if (name === "subscriptionIdentifiers") {
      const ids = value as Array<number>
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids
    } else if (value instanceof Uint8Array) out[name] = buffer(value)
    else if (name === "payloadFormatIndicator") out[name] = value === 1
    else out[name] = value
  }
  return out
}

/** Our packet in mqtt-packet's object form. */
const toMqttPacket = (p: Packet.Packet, level: Packet.ProtocolLevel): Record<string, unknown> => {
  const withProps = (o: Record<string, unknown>, ps: object | undefined) =>
    ps === undefined ? o : { ...o, properties: props(ps as Record<string, unknown>) }
  switch (p._tag) {
    case "Connect":
      return withProps(
        {
          cmd: "connect",
          protocolId: p.protocolLevel === 3 ? "MQIsdp" : "MQTT",
          protocolVersion: p.protocolLevel,
          clean: p.clean,
          keepalive: p.keepAlive,
          clientId: p.clientId,
          ...(p.will
            ? {
                will: withProps(
                  {
                    topic: p.will.topic,
                    payload: buffer(p.will.payload),
                    qos: p.will.qos,
                    retain: p.will.retain
                  },
                  p.will.properties
                )
              }
            : {}),
          ...(p.username !== undefined ? { username: p.username } : {}),
          ...(p.password !== undefined ? { password: buffer(p.password) } : {})
        },
        p.properties
      )
    case "Connack":
      return withProps(
        {
          cmd: "connack",
          sessionPresent: p.sessionPresent,
          ...(level === 5 ? { reasonCode: p.reasonCode } : { returnCode: p.reasonCode })
        },
        p.properties
      )
    case "Publish":
      return withProps(
        {
          cmd: "publish",
          topic: p.topic,
          payload: buffer(p.payload),
          qos: p.qos,
          retain: p.retain,
          dup: p.dup,
          ...(p.packetId !== undefined ? { messageId: p.packetId } : {})
        },
        p.properties
      )
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
      return withProps(
        { cmd: p._tag.toLowerCase(), messageId: p.packetId, reasonCode: p.reasonCode ?? 0 },
        p.properties
      )
    case "Subscribe":
      return withProps(
        {
          cmd: "subscribe",
          messageId: p.packetId,
          subscriptions: p.subscriptions.map((s) => ({
            topic: s.topicFilter,
            qos: s.qos,
            ...(level === 5 ? { nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling } : {})
          }))
        },
        p.properties
      )
    case "Suback":
      return withProps({ cmd: "suback", messageId: p.packetId, granted: p.reasonCodes }, p.properties)
    case "Unsubscribe":
      return withProps({ cmd: "unsubscribe", messageId: p.packetId, unsubscriptions: p.topicFilters }, p.properties)
    case "Unsuback":
      return withProps(
        {
          cmd: "unsuback",
          messageId: p.packetId,
          ...(level === 5 ? { granted: p.reasonCodes } : {})
        },
        p.properties
      )
    case "Pingreq":
      return { cmd: "pingreq" }
    case "Pingresp":
      return { cmd: "pingresp" }
    case "Disconnect":
      return withProps({ cmd: "disconnect", reasonCode: p.reasonCode ?? 0 }, p.properties)
    case "Auth":
      return withProps({ cmd: "auth", reasonCode: p.reasonCode ?? 0 }, p.properties)
  }
}

/** Packets mqtt-packet writes differently by choice, not by error (both forms are valid). */
const comparable = (p: Packet.Packet, level: Packet.ProtocolLevel) => {
  const ps =
    "properties" in p ? (p.properties as { userProperties?: ReadonlyArray<readonly [string, string]> }) : undefined
  if (
    !groupedByName(ps?.userProperties) ||
    !groupedByName(p._tag === "Connect" ? p.will?.properties?.userProperties : undefined)
  ) {
    return false
  }
  // mqtt-packet refuses to write an empty client id below 3.1.1 or with a persistent session.
  if (p._tag === "Connect" && p.clientId === "" && (level === 3 || !p.clean)) return false
  // mqtt-packet refuses a password without a user name, which MQTT 5 allows and a test must be able to send.
  if (p._tag === "Connect" && p.password !== undefined && p.username === undefined) return false
  return true
}

describe("golden bytes", () => {
  for (const level of levels) {
    it(`match mqtt-packet for every comparable sample at level ${level}`, () => {
      let compared = 0
      for (const packet of [...connectSamples(level), ...samples(level)]) {
        if (!comparable(packet, level)) continue
        const theirs = mqttPacket.generate(toMqttPacket(packet, level) as never, { protocolVersion: level })
        assert.deepStrictEqual(
          Buffer.from(encode(packet, level)).toString("hex"),
          theirs.toString("hex"),
          `${packet._tag} at level ${level}: ${JSON.stringify(toMqttPacket(packet, level))}`
        )
        compared++
      }
      assert.isAtLeast(compared, 30)
    })
  }

  // Worked out from the specification's field layouts.
  const spec: ReadonlyArray<readonly [string, Packet.Packet, Packet.ProtocolLevel, string]> = [
    [
      '3.1.1 CONNECT, clean session, keep alive 60, client id "a"',
      { _tag: "Connect", protocolLevel: 4, clean: true, keepAlive: 60, clientId: "a" },
      4,
      "10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61"
    ],
    [
      "3.1 CONNECT uses protocol name MQIsdp",
      { _tag: "Connect", protocolLevel: 3, clean: true, keepAlive: 10, clientId: "a" },
      3,
      "10 0f 00 06 4d 51 49 73 64 70 03 02 00 0a 00 01 61"
    ],
    [
      "5.0 CONNECT with an empty property list",
      { _tag: "Connect", protocolLevel: 5, clean: false, keepAlive: 0, clientId: "" },
      5,
      "10 0d 00 04 4d 51 54 54 05 00 00 00 00 00 00"
    ],
    ["CONNACK accepted, session present", { _tag: "Connack", sessionPresent: true, reasonCode: 0 }, 4, "20 02 01 00"],
    [
      'PUBLISH QoS 1 retain, topic a/b, packet id 10, payload "hi"',
      {
        _tag: "Publish",
        topic: "a/b",
        payload: new Uint8Array([0x68, 0x69]),
        qos: 1,
        retain: true,
        dup: false,
        packetId: 10
      },
      4,
      "33 09 00 03 61 2f 62 00 0a 68 69"
    ],
    ["PUBREL has fixed header flags 0010", { _tag: "Pubrel", packetId: 1, reasonCode: 0 }, 4, "62 02 00 01"],
    ["MQTT 5 PUBACK success without properties is 2 bytes", { _tag: "Puback", packetId: 1 }, 5, "40 02 00 01"],
    [
      "SUBSCRIBE has fixed header flags 0010",
      { _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "a", qos: 1 }] },
      4,
      "82 06 00 01 00 01 61 01"
    ],
    ["PINGREQ", { _tag: "Pingreq" }, 4, "c0 00"],
    ["PINGRESP", { _tag: "Pingresp" }, 4, "d0 00"],
    ["3.1.1 DISCONNECT", { _tag: "Disconnect" }, 4, "e0 00"],
    ["MQTT 5 DISCONNECT normal, no properties", { _tag: "Disconnect", reasonCode: 0 }, 5, "e0 02 00 00"],
    ["MQTT 5 AUTH success, no properties", { _tag: "Auth" }, 5, "f0 02 00 00"]
  ]
  for (const [name, packet, level, bytes] of spec) {
    it(name, () => {
      assert.strictEqual(
        Buffer.from(encode(packet, level)).toString("hex"),
        hex(bytes).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "")
      )
      const parsed = Parser.parseAll(hex(bytes), { protocolLevel: level })
      assert.isUndefined(parsed.error)
      assert.strictEqual(parsed.packets[0]?._tag, packet._tag)
    })
  }

  it("explicitReasonCodes: MQTT 5 PUBACK, PUBREC, PUBREL, PUBCOMP with reason code 0 and property length 0", () => {
    for (const [tag, first] of [
      ["Puback", "40"],
      ["Pubrec", "50"],
      ["Pubrel", "62"],
      ["Pubcomp", "70"]
    ] as const) {
      const long = Encoder.encode({ _tag: tag, packetId: 7 }, 5, { explicitReasonCodes: true })
      assert.strictEqual(Buffer.from(Result.getOrThrow(long)).toString("hex"), `${first}0400070000`, tag)
      // Without the option: the short form; below level 5 the option changes nothing.
      const short = Encoder.encode({ _tag: tag, packetId: 7 }, 5)
      assert.strictEqual(Buffer.from(Result.getOrThrow(short)).toString("hex"), `${first}020007`, tag)
      const v311 = Encoder.encode({ _tag: tag, packetId: 7 }, 4, { explicitReasonCodes: true })
      assert.strictEqual(Buffer.from(Result.getOrThrow(v311)).toString("hex"), `${first}020007`, tag)
      // Both forms read back as the same packet.
      const parsed = Parser.parseAll(Result.getOrThrow(long), { protocolLevel: 5 })
      assert.deepStrictEqual(parsed.packets, [{ _tag: tag, packetId: 7, reasonCode: 0 }])
    }
  })

  it("mqtt-packet's parser reads what we write", () => {
    for (const level of levels) {
      const parser = mqttPacket.parser({ protocolVersion: level })
      const seen: Array<string> = []
      parser.on("packet", (p: { cmd: string }) => seen.push(p.cmd))
      parser.on("error", (e: Error) => assert.fail(`level ${level}: ${e.message}`))
      const packets = samples(level)
      for (const packet of packets) parser.parse(Buffer.from(encode(packet, level)))
      assert.deepStrictEqual(
        seen,
        packets.map((p) => p._tag.toLowerCase())
      )
    }
  })

  it("names every packet type", () => {
    assert.strictEqual(Packet.packetName("Pubcomp"), "PUBCOMP")
  })
})
