/**
 * One client's session: what survives between its connections when the
 * session is persistent (subscriptions, messages in flight both ways, queued
 * messages), and what a live connection needs to track.
 *
 * @since 0.1.0
 */
import type { Packet } from "@mqttest/codec"
import type { Message } from "./Message.js"
import * as PacketId from "./PacketId.js"
import type { Subscription } from "./SubscriptionIndex.js"

/**
 * A server → client QoS 1/2 message not yet fully acknowledged.
 * @since 0.1.0
 */
export interface Outbound {
  readonly packetId: number
  /** The PUBLISH as first sent (resent with DUP set). */
  readonly publish: Packet.Publish
  /** What the server waits for next. */
  readonly state: "puback" | "pubrec" | "pubcomp"
}

/**
 * One client's session. Its state changes only through its methods, each
 * named after what happened in the protocol (the server says, the session
 * keeps count); the collections are read-only views.
 * @since 0.1.0
 */
export class Session {
  /** Subscriptions by topic filter (as sent, `$share/…` included); changed by the SessionStore. */
  readonly subscriptions = new Map<string, Subscription>()
  private readonly inFlightOut = new Map<number, Outbound>()
  private readonly awaitingRelease = new Set<number>()
  private readonly queued: Array<Message> = []
  private dropped = 0
  private ids: PacketId.PacketIdAllocator = PacketId.sequential()
  private override: number | undefined = undefined

  constructor(
    readonly clientId: string,
    /**
     * Seconds the session outlives its connection: 0 ends it with the
     * connection (clean session), 0xFFFFFFFF never expires.
     */
    private expiry: number,
    /** Largest number of queued messages; the oldest is dropped beyond it. */
    readonly maxQueued = 1000
  ) {}

  /** Server → client messages in flight, by packet id, in send order. */
  get outbound(): ReadonlyMap<number, Outbound> {
    return this.inFlightOut
  }
  /** Client → server QoS 2 packet ids received (PUBREC sent) and not yet released. */
  get inboundQoS2(): ReadonlySet<number> {
    return this.awaitingRelease
  }
  /** Messages waiting for the client: it is offline, or its receive maximum is reached. */
  get queue(): ReadonlyArray<Message> {
    return this.queued
  }
  /** Messages dropped from a full queue since the session began. */
  get droppedFromQueue(): number {
    return this.dropped
  }
  /** Seconds the session outlives its connection (see the constructor). */
  get expiryInterval(): number {
    return this.expiry
  }
  /** Milliseconds the session outlives its connection, set by the test whatever the client asked for. */
  get expiryOverride(): number | undefined {
    return this.override
  }

  /** The client asked for this session expiry (CONNECT, or MQTT 5 DISCONNECT); a test's override still wins. */
  expireAfter(seconds: number): void {
    this.expiry = seconds
  }

  /** The test imposes an expiry (ms) and/or a packet id strategy on this session. */
  impose(options: {
    readonly expiryOverride?: number | undefined
    readonly packetIds?: PacketId.PacketIdAllocator | undefined
  }): void {
    this.override = options.expiryOverride
    if (options.packetIds !== undefined) this.ids = options.packetIds
  }

  /** Allocates a packet id not in flight, or undefined when all are. */
  allocatePacketId(): number | undefined {
    return this.ids.next((id) => this.inFlightOut.has(id))
  }

  /** A QoS 1/2 PUBLISH went to the client: in flight until acknowledged. */
  sent(publish: Packet.Publish & { readonly packetId: number }): void {
    this.inFlightOut.set(publish.packetId, {
      packetId: publish.packetId,
      publish,
      state: publish.qos === 1 ? "puback" : "pubrec"
    })
  }

  /** The client's PUBREC for a QoS 2 message: the server's PUBREL is next, awaiting PUBCOMP. */
  received(packetId: number): void {
    const entry = this.inFlightOut.get(packetId)
    if (entry !== undefined) this.inFlightOut.set(packetId, { ...entry, state: "pubcomp" })
  }

  /** A message in flight is done (acknowledged, refused, or not sendable). */
  completed(packetId: number): void {
    this.inFlightOut.delete(packetId)
  }

  /** The server sent PUBREC for a client's QoS 2 PUBLISH: the id awaits the client's PUBREL. */
  awaitRelease(packetId: number): void {
    this.awaitingRelease.add(packetId)
  }

  /** The client's PUBREL: true when the id was awaiting it. */
  release(packetId: number): boolean {
    return this.awaitingRelease.delete(packetId)
  }

  /** Queues a message; returns false when the queue was full and the oldest message was dropped. */
  enqueue(message: Message): boolean {
    this.queued.push(message)
    if (this.queued.length > this.maxQueued) {
      this.queued.shift()
      this.dropped++
      return false
    }
    return true
  }

  /** Takes the oldest queued message. */
  dequeue(): Message | undefined {
    return this.queued.shift()
  }
}
