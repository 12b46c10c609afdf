/**
 * The event hub: every subscriber gets its own bounded queue, filled first
 * with the most recent events, then with live ones. A subscriber that reads
 * too slowly loses its oldest events (the server never waits for it), and
 * everyone is told with a warning.
 */
import { type Cause, Effect, Queue, Stream } from "effect"
import type { ServerEvent } from "../ServerEvent.js"

export interface EventHub {
  readonly publish: (event: ServerEvent) => void
  /** Publishes the last event and ends every stream after it. */
  readonly end: (last: ServerEvent) => void
  readonly stream: Stream.Stream<ServerEvent>
  /** The most recent events, oldest first. */
  readonly snapshot: () => ReadonlyArray<ServerEvent>
}

export const make = (capacity: number, overflowWarning: () => ServerEvent): EventHub => {
  // The latest `capacity` events, in a ring.
  const ring: Array<ServerEvent> = []
  let start = 0
  const remember = (event: ServerEvent) => {
    if (ring.length < capacity) ring.push(event)
    else {
      ring[start] = event
      start = (start + 1) % capacity
    }
  }
  const snapshot = () => [...ring.slice(start), ...ring.slice(0, start)]

  const subscribers = new Set<Queue.Queue<ServerEvent, Cause.Done>>()
  const lagging = new Set<Queue.Queue<ServerEvent, Cause.Done>>()
  let ended = false

  const publish = (event: ServerEvent): void => {
    if (ended) return
    remember(event)
    let warn = false
    for (const queue of subscribers) {
      const size = Queue.sizeUnsafe(queue)
      if (size >= capacity) {
        if (!lagging.has(queue)) {
          lagging.add(queue)
          warn = true
        }
      } else if (size < capacity / 2) {
        lagging.delete(queue)
      }
      Queue.offerUnsafe(queue, event)
    }
    if (warn) publish(overflowWarning())
  }

  const stream = Stream.unwrap(
    Effect.gen(function* () {
      const queue = yield* Queue.sliding<ServerEvent, Cause.Done>(capacity)
      for (const event of snapshot()) Queue.offerUnsafe(queue, event)
      if (ended) Queue.endUnsafe(queue)
      else {
        subscribers.add(queue)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            subscribers.delete(queue)
            lagging.delete(queue)
          })
        )
      }
      return Stream.fromQueue(queue)
    })
  )

  return {
    publish,
    end: (last) => {
      publish(last)
      ended = true
      for (const queue of subscribers) Queue.endUnsafe(queue)
      subscribers.clear()
    },
    stream,
    snapshot
  }
}
