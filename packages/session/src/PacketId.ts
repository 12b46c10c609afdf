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
