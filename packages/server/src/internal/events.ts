/**
 * The event hub: every subscriber gets its own bounded queue, filled first
 * with the most recent events, then with live ones. A subscriber that reads
 * too slowly loses its oldest events (the server never waits for it), and
 * everyone is told with a warning. Events are numbered in publish order, so
 * a reader can start after a mark ("the next event from here on").
 */
import type * as Arr from "effect/Array"
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { ServerEvent } from "../ServerEvent.js"

export interface EventHub {
  readonly publish: (event: ServerEvent) => void
  /** Publishes the last event and ends every stream after it. */
  readonly end: (last: ServerEvent) => void
  readonly stream: Stream.Stream<ServerEvent>
  /** The number of events published so far: a mark for `streamAfter`. */
  readonly mark: () => number
  /**
   * The events published after a mark (buffered ones first, then live ones);
   * with `keep`, only those it keeps ever enter the reader's queue.
   */
  readonly streamAfter: (mark: number, keep?: (event: ServerEvent) => boolean) => Stream.Stream<ServerEvent>
  /** The most recent events, oldest first. */
  readonly snapshot: () => ReadonlyArray<ServerEvent>
}

export const make = (capacity: number, overflowWarning: () => ServerEvent): EventHub => {
  interface Entry {
    readonly seq: number
    readonly event: ServerEvent
  }
  // The latest `capacity` events, in a ring.
  const ring: Array<Entry> = []
  let start = 0
  let published = 0
  const remember = (event: Entry) => {
    if (ring.length < capacity) ring.push(event)
    else {
      ring[start] = event
      start = (start + 1) % capacity
    }
  }
  const entries = () => [...ring.slice(start), ...ring.slice(0, start)]

  /**
   * A reader's queue. A reader with `keep` sees only the events it keeps,
   * numbered by itself (`offered`), so a gap in its numbers is a loss, not a
   * filtered event.
   */
  interface Subscriber {
    readonly queue: Queue.Queue<Entry, Cause.Done>
    readonly keep: ((event: ServerEvent) => boolean) | undefined
    offered: number
  }
  const subscribers = new Set<Subscriber>()
  const lagging = new Set<Subscriber>()
  const offer = (subscriber: Subscriber, entry: Entry) => {
    if (subscriber.keep === undefined) return void Queue.offerUnsafe(subscriber.queue, entry)
    // A predicate that throws keeps the event: the reader's own filter then fails in the reader.
    let kept = true
    try {
      kept = subscriber.keep(entry.event)
    } catch {}
    if (kept) Queue.offerUnsafe(subscriber.queue, { seq: ++subscriber.offered, event: entry.event })
  }
  let ended = false

  const publish = (input: ServerEvent): void => {
    if (ended) return
    const event = { seq: ++published, event: input }
    remember(event)
    let warn = false
    for (const subscriber of subscribers) {
      const size = Queue.sizeUnsafe(subscriber.queue)
      if (size >= capacity) {
        if (!lagging.has(subscriber)) {
          lagging.add(subscriber)
          warn = true
        }
      } else if (size < capacity / 2) {
        lagging.delete(subscriber)
      }
      offer(subscriber, event)
    }
    if (warn) publish(overflowWarning())
  }

  const streamAfter = (mark: number, keep?: (event: ServerEvent) => boolean): Stream.Stream<ServerEvent> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const queue = yield* Queue.sliding<Entry, Cause.Done>(capacity)
        const subscriber: Subscriber = { queue, keep, offered: 0 }
        for (const entry of entries()) if (entry.seq > mark) offer(subscriber, entry)
        if (ended) Queue.endUnsafe(queue)
        else {
          subscribers.add(subscriber)
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              subscribers.delete(subscriber)
              lagging.delete(subscriber)
            })
          )
        }
        // A reader that fell behind lost the oldest events of its queue: the numbers show the gap, and
        // an EventsLost event marks it with the count.
        let last: number | undefined = keep !== undefined ? 0 : mark > 0 ? mark : undefined
        return Stream.mapArray(Stream.fromQueue(queue), (batch) => {
          const out: Array<ServerEvent> = []
          for (const entry of batch) {
            if (last !== undefined && entry.seq > last + 1) {
              out.push({ _tag: "EventsLost", timestamp: entry.event.timestamp, count: entry.seq - last - 1 })
            }
            out.push(entry.event)
            last = entry.seq
          }
          // Never empty: every entry of the batch is in it.
          return out as unknown as Arr.NonEmptyReadonlyArray<ServerEvent>
        })
      })
    )

  return {
    publish,
    end: (last) => {
      publish(last)
      ended = true
      for (const subscriber of subscribers) Queue.endUnsafe(subscriber.queue)
      subscribers.clear()
    },
    stream: streamAfter(0),
    mark: () => published,
    streamAfter,
    snapshot: () => entries().map((entry) => entry.event)
  }
}
