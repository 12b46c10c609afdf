/**
 * Packet identifier allocation for server → client publishes.
 *
 * @since 0.1.0
 */

/**
 * Hands out packet identifiers, skipping the ones still in flight.
 * @since 0.1.0
 */
export interface PacketIdAllocator {
  /** The next free identifier, or undefined when all 65,535 are in use. */
  readonly next: (inUse: (id: number) => boolean) => number | undefined
}

/**
 * Sequential identifiers starting at `start`, wrapping from 65535 to 1.
 * @since 0.1.0
 */
export const sequential = (start = 1): PacketIdAllocator => {
  let cursor = start >= 1 && start <= 65535 ? start : 1
  return {
    next: (inUse) => {
      for (let tries = 0; tries < 65535; tries++) {
        const id = cursor
        cursor = cursor === 65535 ? 1 : cursor + 1
        if (!inUse(id)) return id
      }
      return undefined
    }
  }
}

/**
 * Random identifiers (from `next`, a seeded generator of [0, 1)), skipping those in flight.
 * @since 0.1.0
 */
export const random = (next: () => number): PacketIdAllocator => ({
  next: (inUse) => {
    for (let tries = 0; tries < 1000; tries++) {
      const id = 1 + Math.floor(next() * 65535)
      if (!inUse(id)) return id
    }
    return lowestFree().next(inUse)
  }
})

/**
 * The lowest identifier not in flight.
 * @since 0.1.0
 */
export const lowestFree = (): PacketIdAllocator => ({
  next: (inUse) => {
    for (let id = 1; id <= 65535; id++) if (!inUse(id)) return id
    return undefined
  }
})

/**
 * Deliberately reuses an identifier still in flight (a protocol violation,
 * to test a client's robustness): the most recently handed out one while it
 * is in flight, a fresh sequential one otherwise.
 * @since 0.1.0
 */
export const reuse = (): PacketIdAllocator => {
  const fresh = sequential()
  let last: number | undefined
  return {
    next: (inUse) => {
      if (last !== undefined && inUse(last)) return last
      last = fresh.next(inUse)
      return last
    }
  }
}
