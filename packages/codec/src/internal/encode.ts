/**
 * Writes packets to bytes. The body is written into a reusable scratch
 * buffer, then copied once behind its fixed header into an exactly sized
 * output. Throws a DecodeFailure (reason `InvalidPacket` or `PacketTooLarge`)
 * when the packet cannot be represented at the requested level.
 */
import type { CodecErrorReason } from "../CodecError.js"
import type * as P from "../Packet.js"
import { packetName, typeNumber } from "../Packet.js"
import { forContext, type PropertyContext } from "./properties.js"
import { fail } from "./reader.js"

const textEncoder = new TextEncoder()

class Writer {
  buf = new Uint8Array(4096)
  pos = 0
  tag: P.PacketTag = "Pingreq"

  invalid(problem: string): never {
    return fail({ _tag: "InvalidPacket", packetType: packetName(this.tag), problem })
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  range(value: number, max: number, field: string, min = 0): void {
    if (!Number.isInteger(value) || value < min || value > max) {
      this.invalid(`${field} must be an integer from ${min} to ${max}, got ${value}`)
    }
  }

  u8(value: number, field: string): void {
    this.range(value, 255, field)
    this.ensure(1)
    this.buf[this.pos++] = value
  }

  u16(value: number, field: string): void {
    this.range(value, 65535, field)
    this.ensure(2)
    this.buf[this.pos++] = value >> 8
    this.buf[this.pos++] = value & 0xff
  }

  u32(value: number, field: string): void {
    this.range(value, 4294967295, field)
    this.ensure(4)
    this.buf[this.pos++] = value >>> 24
    this.buf[this.pos++] = (value >>> 16) & 0xff
    this.buf[this.pos++] = (value >>> 8) & 0xff
    this.buf[this.pos++] = value & 0xff
  }

  varint(value: number, field: string): void {
    this.range(value, 268435455, field)
    this.ensure(4)
    do {
      let byte = value % 128
      value = Math.floor(value / 128)
      if (value > 0) byte |= 0x80
      this.buf[this.pos++] = byte
    } while (value > 0)
  }

  bytes(value: Uint8Array): void {
    this.ensure(value.length)
    this.buf.set(value, this.pos)
    this.pos += value.length
  }

  binary(value: Uint8Array, field: string): void {
    if (value.length > 65535) this.invalid(`${field} is longer than 65535 bytes`)
    this.u16(value.length, field)
    this.bytes(value)
  }

  string(value: string, field: string): void {
    const n = value.length
    this.ensure(2 + n * 3)
    const start = this.pos + 2
    const buf = this.buf
    let i = 0
    for (; i < n; i++) {
      const c = value.charCodeAt(i)
      if (c > 0x7f) break
      buf[start + i] = c
    }
    let length = i
    if (i < n) {
      if (!value.isWellFormed()) this.invalid(`${field} is not well-formed Unicode (lone surrogate)`)
      length = textEncoder.encodeInto(value, buf.subarray(start)).written
    }
    if (length > 65535) this.invalid(`${field} is longer than 65535 bytes in UTF-8`)
    buf[this.pos] = length >> 8
    buf[this.pos + 1] = length & 0xff
    this.pos = start + length
  }
}

const w = new Writer()

const properties = (props: object | undefined, context: PropertyContext, level: P.ProtocolLevel): void => {
  if (level !== 5) {
    if (props !== undefined && Object.keys(props).length > 0) {
      w.invalid(`${context === "Will" ? "will properties" : "properties"} require protocol level 5`)
    }
    return
  }
  // The property length comes first: write the properties after a 4-byte gap, then close it up.
  w.ensure(4)
  const lengthAt = w.pos
  w.pos += 4
  const bodyAt = w.pos
  if (props !== undefined) {
    const values = props as Record<string, unknown>
    for (const [field, def] of forContext(context)) {
      const value = values[field]
      if (value === undefined) continue
      const items =
        def.type === "pair" || field === "subscriptionIdentifiers" ? (value as ReadonlyArray<unknown>) : [value]
      for (const item of items) {
        w.varint(def.id, "property identifier")
        switch (def.type) {
          case "byte":
            w.u8(typeof item === "boolean" ? (item ? 1 : 0) : (item as number), def.name)
            break
          case "u16":
            w.u16(item as number, def.name)
            break
          case "u32":
            w.u32(item as number, def.name)
            break
          case "varint":
            w.varint(item as number, def.name)
            break
          case "string":
            w.string(item as string, def.name)
            break
          case "binary":
            w.binary(item as Uint8Array, def.name)
            break
          case "pair": {
            const [name, text] = item as readonly [string, string]
            w.string(name, "user property name")
            w.string(text, "user property value")
            break
          }
        }
      }
    }
  }
  const length = w.pos - bodyAt
  const end = w.pos
  w.pos = lengthAt
  w.varint(length, "property length")
  const lengthSize = w.pos - lengthAt
  w.buf.copyWithin(w.pos, bodyAt, end)
  w.pos = lengthAt + lengthSize + length
}

const hasProperties = (props: object | undefined) => props !== undefined && Object.keys(props).length > 0

const v5Only = (level: P.ProtocolLevel, condition: boolean, what: string) => {
  if (level !== 5 && condition) w.invalid(`${what} requires protocol level 5`)
}

const writeBody = (packet: P.Packet, level: P.ProtocolLevel, explicitReasonCodes: boolean): number => {
  switch (packet._tag) {
    case "Connect": {
      const l = packet.protocolLevel
      w.string(l === 3 ? "MQIsdp" : "MQTT", "protocol name")
      w.u8(l, "protocol level")
      const will = packet.will
      let flags = packet.clean ? 0x02 : 0
      if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0)
      if (packet.password !== undefined) flags |= 0x40
      if (packet.username !== undefined) flags |= 0x80
      w.u8(flags, "connect flags")
      w.u16(packet.keepAlive, "keep alive")
      properties(packet.properties, "Connect", l)
      w.string(packet.clientId, "client identifier")
      if (will !== undefined) {
        properties(will.properties, "Will", l)
        w.string(will.topic, "will topic")
        w.binary(will.payload, "will payload")
      }
      if (packet.username !== undefined) w.string(packet.username, "user name")
      if (packet.password !== undefined) w.binary(packet.password, "password")
      return 0
    }
    case "Connack":
      w.u8(packet.sessionPresent ? 1 : 0, "acknowledge flags")
      w.u8(packet.reasonCode, "reason code")
      properties(packet.properties, "Connack", level)
      return 0
    case "Publish": {
      const { qos } = packet
      if (qos > 0 && packet.packetId === undefined) w.invalid(`QoS ${qos} requires a packet identifier`)
      if (qos === 0 && packet.packetId !== undefined) w.invalid("QoS 0 has no packet identifier")
      if (qos === 0 && packet.dup) w.invalid("DUP must be 0 for QoS 0 [MQTT-3.3.1-2]")
      w.string(packet.topic, "topic name")
      if (packet.packetId !== undefined) w.u16(packet.packetId, "packet identifier")
      properties(packet.properties, "Publish", level)
      w.bytes(packet.payload)
      return (packet.dup ? 0x08 : 0) | (qos << 1) | (packet.retain ? 0x01 : 0)
    }
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp": {
      const code = packet.reasonCode ?? 0
      v5Only(level, code !== 0, "a reason code other than 0")
      w.u16(packet.packetId, "packet identifier")
      if (level !== 5) {
        properties(packet.properties, packet._tag, level)
      } else if (code !== 0 || hasProperties(packet.properties) || explicitReasonCodes) {
        // Otherwise the short form: the packet identifier alone means success. With a reason
        // code the property length follows too (0 when empty), the form most decoders expect.
        w.u8(code, "reason code")
        properties(packet.properties, packet._tag, level)
      }
      return packet._tag === "Pubrel" ? 0x02 : 0
    }
    case "Subscribe":
      w.u16(packet.packetId, "packet identifier")
      properties(packet.properties, "Subscribe", level)
      for (const s of packet.subscriptions) {
        const rh = s.retainHandling ?? 0
        v5Only(
          level,
          s.noLocal === true || s.retainAsPublished === true || rh !== 0,
          "subscription options other than QoS"
        )
        w.string(s.topicFilter, "topic filter")
        w.u8(s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (rh << 4), "subscription options")
      }
      return 0x02
    case "Suback":
    case "Unsuback":
      if (packet._tag === "Unsuback") v5Only(level, packet.reasonCodes.length > 0, "UNSUBACK reason codes")
      w.u16(packet.packetId, "packet identifier")
      properties(packet.properties, packet._tag, level)
      for (const code of packet.reasonCodes) w.u8(code, "reason code")
      return 0
    case "Unsubscribe":
      w.u16(packet.packetId, "packet identifier")
      properties(packet.properties, "Unsubscribe", level)
      for (const filter of packet.topicFilters) w.string(filter, "topic filter")
      return 0x02
    case "Pingreq":
    case "Pingresp":
      return 0
    case "Disconnect":
    case "Auth": {
      if (packet._tag === "Auth" && level !== 5) w.invalid("AUTH requires protocol level 5")
      const code = packet.reasonCode ?? 0
      v5Only(level, code !== 0, "a reason code other than 0")
      properties(packet.properties, packet._tag, level)
      if (level === 5) {
        // Always the long form (reason code, then properties), even where the spec would allow
        // Remaining Length 0: some client decoders cannot read the short AUTH form.
        w.ensure(1)
        w.buf.copyWithin(1, 0, w.pos)
        w.buf[0] = code
        w.pos++
      }
      return 0
    }
  }
}

/**
 * Encodes a packet at a protocol level, failing (by throwing a DecodeFailure)
 * when it cannot be represented or is larger than `maxPacketSize`; with
 * `explicitReasonCodes`, MQTT 5 PUBACK, PUBREC, PUBREL and PUBCOMP carry
 * their reason code and property length even for success without properties.
 */
export const encodePacket = (
  packet: P.Packet,
  level: P.ProtocolLevel,
  maxPacketSize: number,
  explicitReasonCodes = false
): Uint8Array => {
  w.pos = 0
  w.tag = packet._tag
  const flags = writeBody(packet, packet._tag === "Connect" ? packet.protocolLevel : level, explicitReasonCodes)
  const bodySize = w.pos
  if (bodySize > 268435455) w.invalid("packet body is longer than 268,435,455 bytes")
  const lengthSize = bodySize < 128 ? 1 : bodySize < 16384 ? 2 : bodySize < 2097152 ? 3 : 4
  const total = 1 + lengthSize + bodySize
  if (total > maxPacketSize) {
    const reason: CodecErrorReason = { _tag: "PacketTooLarge", size: total, maximum: maxPacketSize }
    fail(reason)
  }
  const out = new Uint8Array(total)
  out[0] = (typeNumber[packet._tag] << 4) | flags
  let value = bodySize
  let pos = 1
  do {
    let byte = value % 128
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    out[pos++] = byte
  } while (value > 0)
  out.set(w.buf.subarray(0, bodySize), pos)
  // Do not let one huge packet pin a huge scratch buffer.
  if (w.buf.length > 1 << 20) w.buf = new Uint8Array(4096)
  return out
}
