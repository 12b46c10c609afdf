/**
 * Decodes the body of one complete packet. The framing (fixed header,
 * Remaining Length, size limit) is the parser's job; this module turns
 * `[start, end)` of a buffer into a typed packet or throws a DecodeFailure.
 */
import type * as P from "../Packet.js"
import { packetName, tagOfType } from "../Packet.js"
import * as ReasonCode from "../ReasonCode.js"
import { byId, fieldName, type PropertyContext, repeatable } from "./properties.js"
import { fail, Reader, specId } from "./reader.js"

/** Fixed header flags required by every packet type except PUBLISH [MQTT-2.2.2-1]. */
const requiredFlags = (type: number): number => (type === 6 || type === 8 || type === 10 ? 0b0010 : 0)

/**
 * Validates the packet type and fixed-header flags of a first byte. Returns
 * the packet tag; throws a DecodeFailure when the byte cannot start a packet
 * at this protocol level.
 */
export const checkFirstByte = (first: number, level: P.ProtocolLevel): P.PacketTag => {
  const type = first >> 4
  const flags = first & 0x0f
  const tag = tagOfType[type]
  if (tag === undefined || (type === 15 && level !== 5)) {
    return fail({
      _tag: "InvalidPacketType",
      type,
      ...(type === 0 ? { spec: specId(level, "MQTT-2.2.1-1", "MQTT-2.1.2-1") } : {})
    })
  }
  if (type === 3) {
    const qos = (flags >> 1) & 0x03
    if (qos === 3) {
      fail({ _tag: "InvalidFlags", packetType: "PUBLISH", flags, problem: "QoS 3", spec: "MQTT-3.3.1-4" })
    }
    if (qos === 0 && (flags & 0x08) !== 0) {
      fail({ _tag: "InvalidFlags", packetType: "PUBLISH", flags, problem: "DUP set on QoS 0", spec: "MQTT-3.3.1-2" })
    }
  } else if (flags !== requiredFlags(type)) {
    fail({
      _tag: "InvalidFlags",
      packetType: packetName(tag),
      flags,
      problem: `reserved flags must be 0x0${requiredFlags(type)}`,
      spec: specId(level, "MQTT-2.2.2-1", "MQTT-2.1.3-1")
    })
  }
  return tag
}

const properties = (r: Reader, context: PropertyContext): Record<string, unknown> | undefined => {
  const length = r.varint("property length")
  if (length === 0) return undefined
  r.need(length, "properties")
  const end = r.pos + length
  const out: Record<string, unknown> = {}
  const seen = new Set<number>()
  const packetType = context === "Will" ? "CONNECT (will)" : r.packetType
  while (r.pos < end) {
    // A property may not run past the property length: read it through a reader bounded by it.
    const pr = new Reader(r.bytes, r.pos, end, r.tag, r.level)
    const id = pr.varint("property identifier")
    const def = id < byId.length ? byId[id] : undefined
    if (def === undefined) return fail({ _tag: "UnknownProperty", packetType, id })
    if (!def.contexts.includes(context)) return fail({ _tag: "PropertyNotAllowed", packetType, property: def.name })
    const field = fieldName(def, context)
    const many = repeatable(def, context)
    if (!many && seen.has(id)) return fail({ _tag: "DuplicateProperty", packetType, property: def.name })
    seen.add(id)
    let value: unknown
    switch (def.type) {
      case "byte":
        value = pr.u8(def.name)
        break
      case "u16":
        value = pr.u16(def.name)
        break
      case "u32":
        value = pr.u32(def.name)
        break
      case "varint":
        value = pr.varint(def.name)
        break
      case "string":
        value = pr.string(def.name)
        break
      case "binary":
        value = pr.binary(def.name)
        break
      case "pair":
        value = [pr.string(`${def.name} name`), pr.string(`${def.name} value`)]
        break
    }
    if (def.rule === "boolean" || def.rule === "zeroOrOne") {
      if (value !== 0 && value !== 1) {
        return fail({ _tag: "InvalidPropertyValue", packetType, property: def.name, value: String(value) })
      }
      if (def.rule === "boolean") value = value === 1
    } else if (def.rule === "nonZero" && value === 0) {
      return fail({ _tag: "InvalidPropertyValue", packetType, property: def.name, value: "0" })
    }
    if (many) {
      const list = out[field] as Array<unknown> | undefined
      if (list === undefined) out[field] = [value]
      else list.push(value)
    } else {
      out[field] = value
    }
    r.pos = pr.pos
  }
  return out
}

const reasonCode = (r: Reader): number => {
  const code = r.u8("reason code")
  if (!ReasonCode.isAllowed(r.tag, r.level, code)) {
    fail({ _tag: "InvalidReasonCode", packetType: r.packetType, code })
  }
  return code
}

const connect = (r: Reader): P.Connect => {
  const protocolName = r.string("protocol name")
  if (protocolName !== "MQTT" && protocolName !== "MQIsdp") {
    fail({ _tag: "InvalidProtocolName", protocolName, spec: "MQTT-3.1.2-1" })
  }
  const level = r.u8("protocol level")
  if (protocolName === "MQIsdp" ? level !== 3 : level !== 4 && level !== 5) {
    fail({ _tag: "UnsupportedProtocolLevel", protocolName, level, spec: "MQTT-3.1.2-2" })
  }
  const protocolLevel = level as P.ProtocolLevel
  // From here on the packet is read with the rules of its own level.
  const c = new Reader(r.bytes, r.pos, r.end, "Connect", protocolLevel)
  const flags = c.u8("connect flags")
  const willFlag = (flags & 0x04) !== 0
  const willQoS = (flags >> 3) & 0x03
  const willRetain = (flags & 0x20) !== 0
  const bad = (problem: string, v3: string, v5: string) =>
    fail({ _tag: "InvalidConnectFlags", flags, problem, spec: specId(protocolLevel, v3, v5) })
  if ((flags & 0x01) !== 0) bad("reserved bit 0 is set", "MQTT-3.1.2-3", "MQTT-3.1.2-3")
  if (willQoS === 3) bad("will QoS 3", "MQTT-3.1.2-14", "MQTT-3.1.2-12")
  if (!willFlag && willQoS !== 0) bad("will QoS set without the will flag", "MQTT-3.1.2-13", "MQTT-3.1.2-11")
  if (!willFlag && willRetain) bad("will retain set without the will flag", "MQTT-3.1.2-15", "MQTT-3.1.2-13")
  const keepAlive = c.u16("keep alive")
  const props = protocolLevel === 5 ? properties(c, "Connect") : undefined
  const clientId = c.string("client identifier")
  let will: P.Will | undefined
  if (willFlag) {
    const willProps = protocolLevel === 5 ? properties(c, "Will") : undefined
    const topic = c.string("will topic")
    const payload = c.binary("will payload")
    will = {
      topic,
      payload,
      qos: willQoS as P.QoS,
      retain: willRetain,
      ...(willProps !== undefined ? { properties: willProps } : {})
    }
  }
  const username = (flags & 0x80) !== 0 ? c.string("user name") : undefined
  const password = (flags & 0x40) !== 0 ? c.binary("password") : undefined
  c.expectEnd()
  return {
    _tag: "Connect",
    protocolLevel,
    clean: (flags & 0x02) !== 0,
    keepAlive,
    clientId,
    ...(will !== undefined ? { will } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(props !== undefined ? { properties: props } : {})
  }
}

const connack = (r: Reader): P.Connack => {
  const ackFlags = r.u8("acknowledge flags")
  if ((ackFlags & 0xfe) !== 0) {
    fail({
      _tag: "InvalidFlags",
      packetType: "CONNACK",
      flags: ackFlags,
      problem: "acknowledge flags bits 7-1 are reserved"
    })
  }
  const code = reasonCode(r)
  const props = r.level === 5 ? properties(r, "Connack") : undefined
  r.expectEnd()
  return {
    _tag: "Connack",
    sessionPresent: ackFlags === 1,
    reasonCode: code,
    ...(props !== undefined ? { properties: props } : {})
  }
}

const publish = (r: Reader, flags: number): P.Publish => {
  const qos = ((flags >> 1) & 0x03) as P.QoS
  const topic = r.string("topic name")
  const packetId = qos > 0 ? r.packetId() : undefined
  const props = r.level === 5 ? properties(r, "Publish") : undefined
  return {
    _tag: "Publish",
    topic,
    payload: r.rest(),
    qos,
    retain: (flags & 0x01) !== 0,
    dup: (flags & 0x08) !== 0,
    ...(packetId !== undefined ? { packetId } : {}),
    ...(props !== undefined ? { properties: props } : {})
  }
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP: reason code and properties may be omitted in MQTT 5. */
const ack = <T extends "Puback" | "Pubrec" | "Pubrel" | "Pubcomp">(r: Reader, tag: T) => {
  const packetId = r.packetId()
  let code = 0
  let props: Record<string, unknown> | undefined
  if (r.level === 5) {
    if (r.remaining > 0) code = reasonCode(r)
    if (r.remaining > 0) props = properties(r, tag)
  }
  r.expectEnd()
  return { _tag: tag, packetId, reasonCode: code, ...(props !== undefined ? { properties: props } : {}) }
}

const subscribe = (r: Reader): P.Subscribe => {
  const packetId = r.packetId()
  const props = r.level === 5 ? properties(r, "Subscribe") : undefined
  const subscriptions: Array<P.Subscription> = []
  while (r.remaining > 0) {
    const topicFilter = r.string("topic filter")
    const options = r.u8("subscription options")
    const bad = (problem: string, spec: string) =>
      fail({ _tag: "InvalidSubscriptionOptions", topicFilter, options, problem, spec })
    const qos = options & 0x03
    if (r.level === 5) {
      if ((options & 0xc0) !== 0) bad("reserved bits 7-6 are set", "MQTT-3.8.3-5")
      if (qos === 3) bad("QoS 3", "MQTT-3.8.3-5")
      if (((options >> 4) & 0x03) === 3) bad("retain handling 3", "MQTT-3.8.3-5")
    } else {
      if ((options & 0xfc) !== 0) bad("reserved bits 7-2 are set", "MQTT-3.8.3-4")
      if (qos === 3) bad("QoS 3", "MQTT-3.8.3-4")
    }
    subscriptions.push({
      topicFilter,
      qos: qos as P.QoS,
      noLocal: (options & 0x04) !== 0,
      retainAsPublished: (options & 0x08) !== 0,
      retainHandling: ((options >> 4) & 0x03) as 0 | 1 | 2
    })
  }
  if (subscriptions.length === 0) {
    fail({ _tag: "EmptyPayload", packetType: "SUBSCRIBE", spec: specId(r.level, "MQTT-3.8.3-3", "MQTT-3.8.3-2") })
  }
  return { _tag: "Subscribe", packetId, subscriptions, ...(props !== undefined ? { properties: props } : {}) }
}

const reasonCodeList = (r: Reader): Array<number> => {
  const codes: Array<number> = []
  while (r.remaining > 0) codes.push(reasonCode(r))
  if (codes.length === 0) fail({ _tag: "EmptyPayload", packetType: r.packetType })
  return codes
}

const suback = (r: Reader): P.Suback => {
  const packetId = r.packetId()
  const props = r.level === 5 ? properties(r, "Suback") : undefined
  const reasonCodes = reasonCodeList(r)
  return { _tag: "Suback", packetId, reasonCodes, ...(props !== undefined ? { properties: props } : {}) }
}

const unsubscribe = (r: Reader): P.Unsubscribe => {
  const packetId = r.packetId()
  const props = r.level === 5 ? properties(r, "Unsubscribe") : undefined
  const topicFilters: Array<string> = []
  while (r.remaining > 0) topicFilters.push(r.string("topic filter"))
  if (topicFilters.length === 0) fail({ _tag: "EmptyPayload", packetType: "UNSUBSCRIBE", spec: "MQTT-3.10.3-2" })
  return { _tag: "Unsubscribe", packetId, topicFilters, ...(props !== undefined ? { properties: props } : {}) }
}

const unsuback = (r: Reader): P.Unsuback => {
  const packetId = r.packetId()
  if (r.level !== 5) {
    r.expectEnd()
    return { _tag: "Unsuback", packetId, reasonCodes: [] }
  }
  const props = properties(r, "Unsuback")
  const reasonCodes = reasonCodeList(r)
  return { _tag: "Unsuback", packetId, reasonCodes, ...(props !== undefined ? { properties: props } : {}) }
}

/** DISCONNECT and AUTH: in MQTT 5 reason code and properties may be omitted. */
const codeAndProperties = <T extends "Disconnect" | "Auth">(r: Reader, tag: T) => {
  let code = 0
  let props: Record<string, unknown> | undefined
  if (r.level === 5) {
    if (r.remaining > 0) code = reasonCode(r)
    if (r.remaining > 0) props = properties(r, tag)
  }
  r.expectEnd()
  return { _tag: tag, reasonCode: code, ...(props !== undefined ? { properties: props } : {}) }
}

const empty = <T extends "Pingreq" | "Pingresp">(r: Reader, tag: T) => {
  r.expectEnd()
  return { _tag: tag }
}

/**
 * Decodes the body `bytes[start, end)` of a packet whose first byte is `first`.
 * Throws a DecodeFailure on any malformed input.
 */
export const decodeBody = (
  first: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  level: P.ProtocolLevel
): P.Packet => {
  const tag = checkFirstByte(first, level)
  const r = new Reader(bytes, start, end, tag, level)
  switch (tag) {
    case "Connect":
      return connect(r)
    case "Connack":
      return connack(r)
    case "Publish":
      return publish(r, first & 0x0f)
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
      return ack(r, tag) as P.Packet
    case "Subscribe":
      return subscribe(r)
    case "Suback":
      return suback(r)
    case "Unsubscribe":
      return unsubscribe(r)
    case "Unsuback":
      return unsuback(r)
    case "Pingreq":
    case "Pingresp":
      return empty(r, tag)
    case "Disconnect":
    case "Auth":
      return codeAndProperties(r, tag) as P.Packet
  }
}
