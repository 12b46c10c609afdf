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
  state: "puback" | "pubrec" | "pubcomp"
}

/**
 * @since 0.1.0
 */
export class Session {
  /** Subscriptions by topic filter (as sent, `$share/…` included). */
  readonly subscriptions = new Map<string, Subscription>()
  /** Server → client messages in flight, by packet id, in send order. */
  readonly outbound = new Map<number, Outbound>()
  /** Client → server QoS 2 packet ids received (PUBREC sent) and not yet released. */
  readonly inboundQoS2 = new Set<number>()
  /** Messages waiting for the client: it is offline, or its receive maximum is reached. */
  readonly queue: Array<Message> = []
  /** Messages dropped from a full queue since the session began. */
  droppedFromQueue = 0
  packetIds: PacketId.PacketIdAllocator = PacketId.sequential()
  /** Milliseconds the session outlives its connection, set by the test whatever the client asked for. */
  expiryOverride: number | undefined = undefined

  constructor(
    readonly clientId: string,
    /**
     * Seconds the session outlives its connection: 0 ends it with the
     * connection (clean session), 0xFFFFFFFF never expires.
     */
    public expiryInterval: number,
    /** Largest number of queued messages; the oldest is dropped beyond it. */
    readonly maxQueued = 1000
  ) {}

  /** Allocates a packet id not in flight, or undefined when all are. */
  allocatePacketId(): number | undefined {
    return this.packetIds.next((id) => this.outbound.has(id))
  }

  /** Queues a message; returns false when the queue was full and the oldest message was dropped. */
  enqueue(message: Message): boolean {
    this.queue.push(message)
    if (this.queue.length > this.maxQueued) {
      this.queue.shift()
      this.droppedFromQueue++
      return false
    }
    return true
  }
}
