/**
 * A run as a compact terminal timeline: one line per packet or event — the
 * time, the gap since the line before, the connection, a direction arrow and
 * a summary of the packet (type, packet id, QoS, topic, reason code), with
 * faults and protocol violations marked. Colours are for terminals only.
 *
 * @since 0.1.0
 */
import * as Stream from "effect/Stream"
import * as Dump from "./Dump.js"
import type * as ServerEvent from "./ServerEvent.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** ANSI colours (for a terminal). */
  readonly color: boolean
}

type Packet = Extract<ServerEvent.ServerEvent, { _tag: "PacketReceived" }>["packet"]

const hex = (code: number) => `0x${code.toString(16).padStart(2, "0")}`
const quoted = (text: string) => JSON.stringify(text)

/** A packet in a few words: its type and the fields a reader looks for. */
export const summary = (packet: Packet): string => {
  const name = packet._tag.toUpperCase()
  switch (packet._tag) {
    case "Connect":
      return `${name} v${packet.protocolLevel === 5 ? "5" : packet.protocolLevel === 4 ? "3.1.1" : "3.1"} id=${quoted(packet.clientId)} keepAlive=${packet.keepAlive}${packet.clean ? " clean" : ""}${packet.will !== undefined ? ` will=${quoted(packet.will.topic)}` : ""}`
    case "Connack":
      return `${name} ${hex(packet.reasonCode)}${packet.sessionPresent ? " session present" : ""}`
    case "Publish": {
      const flags = `${packet.retain ? " retain" : ""}${packet.dup ? " dup" : ""}`
      const id = packet.packetId !== undefined ? ` id=${packet.packetId}` : ""
      return `${name} q${packet.qos}${id} ${quoted(packet.topic)} ${packet.payload.length} B${flags}`
    }
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
      return `${name} id=${packet.packetId}${packet.reasonCode !== undefined && packet.reasonCode !== 0 ? ` ${hex(packet.reasonCode)}` : ""}`
    case "Subscribe":
      return `${name} id=${packet.packetId} ${packet.subscriptions.map((s) => `${quoted(s.topicFilter)} q${s.qos}`).join(", ")}`
    case "Suback":
    case "Unsuback":
      return `${name} id=${packet.packetId} [${packet.reasonCodes.map(hex).join(", ")}]`
    case "Unsubscribe":
      return `${name} id=${packet.packetId} ${packet.topicFilters.map(quoted).join(", ")}`
    case "Disconnect":
      return `${name}${packet.reasonCode !== undefined ? ` ${hex(packet.reasonCode)}` : ""}`
    case "Auth":
      return `${name}${packet.reasonCode !== undefined ? ` ${hex(packet.reasonCode)}` : ""}${packet.properties?.authenticationMethod !== undefined ? ` ${packet.properties.authenticationMethod}` : ""}`
    default:
      return name
  }
}

const colors = { in: "36", out: "32", fault: "33", violation: "31", info: "2" } as const
type Kind = keyof typeof colors

/** One line: what happened to `connection`, of a kind (for its colour), at a time. */
interface Line {
  readonly millis: number
  readonly connection: number | undefined
  readonly clientId: string | undefined
  readonly kind: Kind
  readonly text: string
}

const timeOfDay = (millis: number) => Dump.formatTime(millis).slice(11, 26)

/**
 * Formats lines one after the other: each shows the gap since the one
 * before (a stall stands out).
 * @since 0.1.0
 */
export const formatter = (options: Options) => {
  let previous: number | undefined
  return (line: Line): string => {
    const gap = previous === undefined ? 0 : line.millis - previous
    previous = line.millis
    const who =
      line.connection === undefined
        ? ""
        : `c${line.connection}${line.clientId !== undefined ? ` ${line.clientId}` : ""}`
    const text = `${timeOfDay(line.millis)} ${`+${gap.toFixed(3)}ms`.padStart(12)}  ${who.padEnd(20)} ${line.text}`
    return options.color ? `\u001b[${colors[line.kind]}m${text}\u001b[0m` : text
  }
}

const arrowIn = "→" // client to server
const arrowOut = "←" // server to client

/** The line of a server event, or undefined for events a timeline leaves out. */
export const lineOfEvent = (event: ServerEvent.ServerEvent): Line | undefined => {
  const base = {
    millis: event.timestamp,
    connection: "connection" in event ? event.connection : undefined,
    clientId: "clientId" in event ? event.clientId : undefined
  }
  switch (event._tag) {
    case "PacketReceived":
      return { ...base, kind: "in", text: `${arrowIn} ${summary(event.packet)}` }
    case "PacketSent":
      return { ...base, kind: "out", text: `${arrowOut} ${summary(event.packet)}` }
    case "ConnectionOpened":
      return {
        ...base,
        kind: "info",
        text: `○ opened from ${event.remoteAddress}:${event.remotePort}${event.transport !== undefined ? ` (${event.transport})` : ""}`
      }
    case "ConnectionClosed":
      return {
        ...base,
        kind: "info",
        text: `● closed: ${event.reason}${event.willPublished ? " (will published)" : ""}`
      }
    case "FaultInjected":
      return { ...base, kind: "fault", text: `⚡ ${event.fault}: ${event.detail}` }
    case "ProtocolViolation":
      return {
        ...base,
        kind: "violation",
        text: `✖ protocol violation: ${event.message}${event.spec !== undefined ? ` [${event.spec}]` : ""}`
      }
    case "AuthStep":
      return {
        ...base,
        kind: "info",
        text: `⚿ ${event.method} step ${event.step}: ${event.answer}${event.reasonCode !== undefined ? ` ${hex(event.reasonCode)}` : ""}`
      }
    case "Warning":
      return { ...base, kind: "fault", text: `! ${event.message}${event.spec !== undefined ? ` [${event.spec}]` : ""}` }
    default:
      return undefined
  }
}

/** The line of a dump entry. */
export const lineOfEntry = (entry: Dump.DumpEntry): Line => lineOfEvent(Dump.toEvent(entry))!

/**
 * A dump file as timeline lines, in order.
 * @since 0.1.0
 */
export const fromDump = (path: string, options: Options): Stream.Stream<string, Dump.DumpReadError> => {
  const format = formatter(options)
  return Stream.map(Dump.read(path), (entry) => format(lineOfEntry(entry)))
}
