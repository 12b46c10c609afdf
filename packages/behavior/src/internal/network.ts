/**
 * Network impairment plans: how a write is cut and paced, how a slow
 * consumer's reads are paced. Pure functions of the configured impairments.
 */

import type { Injected, ReadPlan, WritePlan } from "../Decision.js"
import type * as Fault from "../Fault.js"

export const describeWrite = (bytes: number, packets: number) =>
  `${packets} packet${packets === 1 ? "" : "s"} (${bytes} bytes)`

/** How a write of `bytes` in `packets` packets goes out, or undefined to write it at once. */
export const writePlan = (
  network: Fault.Network | undefined,
  bytes: number,
  packets: number
): WritePlan | undefined => {
  const slice = network?.slice
  const bandwidth = network?.bandwidth
  if (slice === undefined && bandwidth === undefined) return undefined
  const what = describeWrite(bytes, packets)
  const pause = slice?.pause ?? 0
  const injected: Array<Injected> = []
  if (slice !== undefined) {
    injected.push({
      fault: "network.slice",
      detail: `${what} in pieces of ${slice.size}${pause > 0 ? `, ${pause} ms apart` : ""}`
    })
  }
  if (bandwidth !== undefined) {
    injected.push({
      fault: "network.bandwidth",
      detail: `${what} paced at ${bandwidth} bytes/s (${Math.round((bytes * 1000) / bandwidth)} ms)`
    })
  }
  // A bandwidth cap writes pieces of about 1/20 s of the link.
  const piece = Math.max(
    1,
    Math.min(slice?.size ?? bytes, bandwidth === undefined ? bytes : Math.floor(bandwidth / 20))
  )
  return { piece, pause, bandwidth, injected }
}

/** How bytes read from a client are paced under `readBandwidth`, or undefined to handle them at once. */
export const readPlan = (bandwidth: number | undefined, bytes: Uint8Array): ReadPlan | undefined => {
  if (bandwidth === undefined) return undefined
  const size = Math.max(1, Math.floor(bandwidth / 20))
  const pieces: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size))
  return {
    pieces,
    waitMillis: (piece) => (piece.length * 1000) / bandwidth,
    injected: { fault: "network.readBandwidth", detail: `${bytes.length} bytes read at ${bandwidth} bytes/s` }
  }
}
