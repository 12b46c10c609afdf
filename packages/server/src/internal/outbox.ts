/**
 * One connection's outbox and its flow control: the bounded queue of packets
 * the socket has not taken yet, and what follows from how full it is — the
 * latch publishers to this client wait on, the latch its own reading waits
 * on, a publisher held back by a slow consumer, and the slow-consumer
 * episode (QoS 0 messages dropped meanwhile). Only this module changes it;
 * the pipelines and the routing ask and tell.
 */

import type { Packet } from "@mqttest/codec"
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Queue from "effect/Queue"

/** A packet a `reorder` fault held back, now written without further faults. */
export interface Released {
  readonly _tag: "Released"
  readonly packet: Packet.Packet
}

/** What the outbox holds: a packet, or a packet released by a fault (written as it is). */
export type Outgoing = Packet.Packet | Released

/** Real time a consumer with a full outbox may take nothing before it counts as stalled (not just slow). */
export const STALL_MS = 500

const liveClock = Clock.Clock.defaultValue()

export class Outbox {
  /** Packets queued that the socket has not taken yet. */
  private unwritten = 0
  /** Real-time millis when the socket last took a batch. */
  private lastProgress = liveClock.currentTimeMillisUnsafe()
  /** Reading this client is paused until its outbox drains (reported once per episode). */
  private readPaused = false
  /** A consumer whose full outbox this client's last PUBLISH went to: its reading waits for that outbox. */
  private blockedBy: Outbox | undefined = undefined
  /** QoS 0 messages dropped since the outbox last filled up (a slow-consumer episode), if one is on. */
  private droppedInEpisode: number | undefined = undefined
  private ended = false

  private constructor(
    /** `maxOutbox`: at this many, publishers wait and the slow-consumer policy may apply. */
    readonly bound: number,
    /** Past this many (4 × bound + 1024, a backstop) the connection is closed. */
    readonly capacity: number,
    readonly queue: Queue.Queue<Outgoing, Cause.Done>
  ) {}

  /**
   * Open while the outbox has room; made when it first fills (most
   * connections never fill theirs: two latches per idle connection were
   * ≈ 0.5 KiB of heap).
   */
  private room: Latch.Latch | undefined = undefined
  /** Open while the outbox holds less than twice its bound; made when it first gets there. */
  private readable: Latch.Latch | undefined = undefined

  static make(bound: number): Effect.Effect<Outbox> {
    const capacity = 4 * bound + 1024
    return Effect.map(Queue.bounded<Outgoing, Cause.Done>(capacity), (queue) => new Outbox(bound, capacity, queue))
  }

  /** Packets queued that the socket has not taken yet. */
  get size(): number {
    return this.unwritten
  }

  /** At the bound (see `maxOutbox`). */
  get full(): boolean {
    return this.unwritten >= this.bound
  }

  /** Packets waiting, and the socket took nothing for `STALL_MS` (real time): a consumer that stopped, not a slow one. */
  get stalled(): boolean {
    return this.unwritten > 0 && liveClock.currentTimeMillisUnsafe() - this.lastProgress > STALL_MS
  }

  /** Queues a packet: false when the outbox is past its capacity (the caller closes the connection). */
  offer(item: Outgoing): boolean {
    if (this.ended) return true
    if (++this.unwritten >= this.bound) {
      if (this.room === undefined) this.room = Latch.makeUnsafe(false)
      else this.room.closeUnsafe()
    }
    return Queue.offerUnsafe(this.queue, item)
  }

  /** Ends the output: what is queued is still taken, nothing more is queued. */
  end(): void {
    this.ended = true
    Queue.endUnsafe(this.queue)
  }

  /** The socket took `count` packets: room again for publishers, and reading may go on. */
  taken(count: number): void {
    this.unwritten -= count
    this.lastProgress = liveClock.currentTimeMillisUnsafe()
    if (this.unwritten < this.bound) this.room?.openUnsafe()
    if (this.unwritten < 2 * this.bound) this.readable?.openUnsafe()
  }

  /** Completes once the outbox has room. */
  get hasRoom(): Effect.Effect<void> {
    return this.room === undefined ? Effect.void : this.room.await
  }

  /** This client's answers fill twice the bound: it is not read on until they drain. */
  get overReadLimit(): boolean {
    return this.unwritten >= 2 * this.bound
  }

  /**
   * Waits while the outbox holds twice its bound; `onPause` runs when an
   * episode of not reading starts (once, until the outbox has caught up).
   */
  untilReadable(onPause: () => void): Effect.Effect<void> {
    if (!this.overReadLimit) return Effect.void
    if (this.readable === undefined) this.readable = Latch.makeUnsafe(false)
    else this.readable.closeUnsafe()
    if (!this.readPaused) {
      this.readPaused = true
      onPause()
    }
    return this.readable.await
  }

  /**
   * A PUBLISH from `publisher` to this (full) outbox goes out anyway, if this
   * consumer is slow rather than stalled and under twice its bound: the
   * publisher's reading then waits for this outbox. True when it does.
   */
  pushBack(publisher: Outbox): boolean {
    if (this.stalled || this.overReadLimit || publisher === this) return false
    publisher.blockedBy = this
    return true
  }

  /** Whether a consumer this client publishes to asked it to wait (see `pushBack`). */
  get blocked(): boolean {
    return this.blockedBy !== undefined
  }

  /** Waits until the consumer that held this client back has room, or for `STALL_MS` at most. */
  get untilConsumerHasRoom(): Effect.Effect<void> {
    const consumer = this.blockedBy
    this.blockedBy = undefined
    if (consumer === undefined || consumer.ended) return Effect.void
    return consumer.hasRoom.pipe(
      Effect.timeoutOrElse({ duration: Duration.millis(STALL_MS), orElse: () => Effect.void }),
      Effect.provideService(Clock.Clock, liveClock)
    )
  }

  /** A QoS 0 message to this full outbox was dropped: true when that starts a slow-consumer episode. */
  dropped(): boolean {
    const starts = this.droppedInEpisode === undefined
    this.droppedInEpisode = (this.droppedInEpisode ?? 0) + 1
    return starts
  }

  /**
   * After a write: when the outbox is down to half its bound, the episode
   * ends — reading may pause again with a new warning, and the number of QoS
   * 0 messages dropped during it (if any) is returned. Undefined while still
   * over half.
   */
  caughtUp(): { readonly dropped: number | undefined } | undefined {
    if (this.unwritten > this.bound / 2) return undefined
    this.readPaused = false
    const dropped = this.droppedInEpisode
    this.droppedInEpisode = undefined
    return { dropped }
  }
}
