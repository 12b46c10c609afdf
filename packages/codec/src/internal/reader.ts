/**
 * A bounds-checked reader over the body of one packet. Every read that would
 * pass the packet's end throws a `DecodeFailure` naming the field, so the
 * decoder never reads into the next packet and never returns half a packet.
 */
import type { CodecErrorReason } from "../CodecError.js"
import type { PacketTag, ProtocolLevel } from "../Packet.js"
import { packetName } from "../Packet.js"

/** Thrown inside the decoder/encoder, caught at their boundary and turned into a CodecError. */
export class DecodeFailure {
  constructor(readonly reason: CodecErrorReason) {}
}

export const fail = (reason: CodecErrorReason): never => {
  throw new DecodeFailure(reason)
}

/** Picks the statement id of the protocol level in force. */
export const specId = (level: ProtocolLevel, v3: string, v5: string): string => (level === 5 ? v5 : v3)

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

export class Reader {
  readonly packetType: string
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
    readonly tag: PacketTag,
    readonly level: ProtocolLevel
  ) {
    this.packetType = packetName(tag)
  }

  get remaining(): number {
    return this.end - this.pos
  }

  truncated(field: string): never {
    return fail({ _tag: "Truncated", packetType: this.packetType, field })
  }

  need(n: number, field: string): void {
    if (this.end - this.pos < n) this.truncated(field)
  }

  u8(field: string): number {
    this.need(1, field)
    return this.bytes[this.pos++]!
  }

  u16(field: string): number {
    this.need(2, field)
    const value = (this.bytes[this.pos]! << 8) | this.bytes[this.pos + 1]!
    this.pos += 2
    return value
  }

  u32(field: string): number {
    this.need(4, field)
    const b = this.bytes
    const p = this.pos
    this.pos += 4
    return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!)
  }

  /** A Variable Byte Integer: at most 4 bytes, minimally encoded [MQTT-1.5.5-1]. */
  varint(field: string): number {
    let value = 0
    let multiplier = 1
    for (let i = 0; i < 4; i++) {
      const byte = this.u8(field)
      value += (byte & 0x7f) * multiplier
      if ((byte & 0x80) === 0) {
        if (i > 0 && byte === 0) {
          fail({ _tag: "MalformedVariableInteger", field, spec: "MQTT-1.5.5-1" })
        }
        return value
      }
      multiplier *= 128
    }
    return fail({ _tag: "MalformedVariableInteger", field })
  }

  packetId(): number {
    const id = this.u16("packet identifier")
    if (id === 0) {
      fail({
        _tag: "InvalidPacketId",
        packetType: this.packetType,
        spec: specId(this.level, "MQTT-2.3.1-1", "MQTT-2.2.1-3")
      })
    }
    return id
  }

  /** Binary Data: a 2-byte length and that many bytes, copied out of the input. */
  binary(field: string): Uint8Array {
    const length = this.u16(field)
    this.need(length, field)
    const out = new Uint8Array(length)
    out.set(this.bytes.subarray(this.pos, this.pos + length))
    this.pos += length
    return out
  }

  /** The rest of the packet, copied. */
  rest(): Uint8Array {
    const out = new Uint8Array(this.end - this.pos)
    out.set(this.bytes.subarray(this.pos, this.end))
    this.pos = this.end
    return out
  }

  /** A UTF-8 Encoded String: well-formed, without U+0000 [MQTT-1.5.3-1] [MQTT-1.5.3-2]. */
  string(field: string): string {
    const length = this.u16(field)
    this.need(length, field)
    const b = this.bytes
    const start = this.pos
    const end = start + length
    this.pos = end
    let ascii = true
    for (let i = start; i < end; i++) {
      const byte = b[i]!
      if (byte === 0) this.badString(field, "contains U+0000", "MQTT-1.5.3-2", "MQTT-1.5.4-2")
      if (byte > 0x7f) ascii = false
    }
    if (ascii && length <= 32) {
      let s = ""
      for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!)
      return s
    }
    try {
      return utf8.decode(b.subarray(start, end))
    } catch {
      return this.badString(field, "ill-formed UTF-8", "MQTT-1.5.3-1", "MQTT-1.5.4-1")
    }
  }

  badString(field: string, problem: string, v3: string, v5: string): never {
    return fail({
      _tag: "InvalidString",
      packetType: this.packetType,
      field,
      problem,
      spec: specId(this.level, v3, v5)
    })
  }

  /** Fails when bytes remain after the last field. */
  expectEnd(): void {
    if (this.pos !== this.end) {
      fail({ _tag: "TrailingBytes", packetType: this.packetType, count: this.end - this.pos })
    }
  }
}
