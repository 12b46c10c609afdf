/**
 * The load generator: raw TCP sockets (TCP_NODELAY) writing pre-encoded
 * MQTT 3.1.1 packets, so the generator costs as little as possible; for the
 * TLS and WebSocket rows, the same bytes over a TLS socket or a WebSocket
 * stream (the `mqtt` subprotocol).
 */

import * as Net from "node:net"
import type { Duplex } from "node:stream"
import * as Tls from "node:tls"
import { Encoder, type Packet, Parser } from "@mqttest/codec"
import { Result } from "effect"
import WebSocket, { createWebSocketStream } from "ws"

/** How the load generator reaches a server: a port, and what carries the bytes. */
export type Transport = "tcp" | "tls" | "ws"

const encode = (packet: Packet.Packet) => Buffer.from(Result.getOrThrow(Encoder.encode(packet, 4)))
export const connectBytes = (clientId: string) =>
  encode({ _tag: "Connect", protocolLevel: 4, clean: true, keepAlive: 0, clientId })
const disconnect = encode({ _tag: "Disconnect" })

/** A connected client that hands every packet it receives to `onPacket`. */
export interface Client {
  readonly socket: Duplex
  onPacket: (packet: Packet.Packet) => void
  readonly close: () => void
}

/** A byte stream to the server, and the event after which it can be written. */
const open = (port: number, transport: Transport): { readonly socket: Duplex; readonly ready: string } => {
  switch (transport) {
    case "tcp":
      return { socket: Net.createConnection({ host: "127.0.0.1", port, noDelay: true }), ready: "connect" }
    case "tls":
      // The bench measures cost, not trust: the server's test certificate is not verified.
      return {
        socket: Tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }).setNoDelay(true),
        ready: "secureConnect"
      }
    case "ws": {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, "mqtt")
      const socket = createWebSocketStream(ws)
      ws.once("open", () => socket.emit("wsopen"))
      return { socket, ready: "wsopen" }
    }
  }
}

export const connect = (port: number, clientId: string, transport: Transport = "tcp"): Promise<Client> =>
  new Promise((resolve, reject) => {
    const { socket, ready } = open(port, transport)
    const parser = Parser.make({ protocolLevel: 4 })
    const client: Client = { socket, onPacket: () => {}, close: () => socket.destroy() }
    socket.on("error", reject)
    socket.once(ready, () => socket.write(connectBytes(clientId)))
    let connected = false
    socket.on("data", (chunk: Buffer) => {
      const parsed = parser.push(chunk)
      for (const packet of parsed.packets) {
        if (!connected && packet._tag === "Connack") {
          connected = true
          resolve(client)
        } else client.onPacket(packet)
      }
    })
  })

const until = (client: Client, predicate: (packet: Packet.Packet) => boolean) =>
  new Promise<void>((resolve) => {
    client.onPacket = (packet) => {
      if (predicate(packet)) resolve()
    }
  })

/** Connect cycles per second: CONNECT → CONNACK → DISCONNECT, `concurrency` at a time. */
export const connectRate = async (
  port: number,
  total: number,
  concurrency: number,
  transport: Transport = "tcp"
): Promise<number> => {
  let next = 0
  const started = performance.now()
  const worker = async () => {
    while (next < total) {
      const i = next++
      const client = await connect(port, `c${i}`, transport)
      client.socket.end(disconnect)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return total / ((performance.now() - started) / 1000)
}

/** QoS 0 fan-in: publishers → one subscriber. Messages per second received, and how many were lost. */
export const fanIn = async (
  port: number,
  publishers: number,
  total: number,
  size: number,
  transport: Transport = "tcp"
) => {
  const subscriber = await connect(port, "fan-sub", transport)
  subscriber.socket.write(encode({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "fan", qos: 0 }] }))
  await until(subscriber, (p) => p._tag === "Suback")
  const pubs = await Promise.all(Array.from({ length: publishers }, (_, i) => connect(port, `fan-pub${i}`, transport)))
  const one = encode({
    _tag: "Publish",
    topic: "fan",
    payload: new Uint8Array(size),
    qos: 0,
    retain: false,
    dup: false
  })
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => one))
  let received = 0
  const started = performance.now()
  let last = started
  const done = new Promise<void>((resolve) => {
    let idle: ReturnType<typeof setInterval> | undefined
    subscriber.onPacket = (p) => {
      if (p._tag !== "Publish") return
      received++
      last = performance.now()
      if (received >= total) {
        clearInterval(idle)
        resolve()
      }
    }
    // Losses: stop once nothing has arrived for a second.
    idle = setInterval(() => {
      if (performance.now() - last > 1000) {
        clearInterval(idle)
        resolve()
      }
    }, 100)
  })
  const share = Math.floor(total / publishers / 1000)
  await Promise.all(
    pubs.map(
      (pub) =>
        new Promise<void>((resolve) => {
          let sent = 0
          const write = () => {
            while (sent < share) {
              sent++
              if (!pub.socket.write(batch)) return pub.socket.once("drain", write)
            }
            resolve()
          }
          write()
        })
    )
  )
  await done
  const seconds = (last - started) / 1000
  for (const c of [subscriber, ...pubs]) c.close()
  return { rate: received / seconds, lost: share * 1000 * publishers - received }
}

/** QoS 1 PUBLISH → PUBACK round trips, one at a time: p50 and p99 in microseconds. */
export const qos1RoundTrip = async (port: number, count: number) => {
  const client = await connect(port, "rtt")
  const times: Array<number> = []
  for (let i = 0; i < count; i++) {
    const packetId = (i % 65535) + 1
    const acked = until(client, (p) => p._tag === "Puback" && p.packetId === packetId)
    const t0 = performance.now()
    client.socket.write(
      encode({
        _tag: "Publish",
        topic: "rtt",
        payload: new Uint8Array(16),
        qos: 1,
        packetId,
        retain: false,
        dup: false
      })
    )
    await acked
    times.push((performance.now() - t0) * 1000)
  }
  client.close()
  times.sort((a, b) => a - b)
  return { p50: times[Math.floor(times.length * 0.5)]!, p99: times[Math.floor(times.length * 0.99)]! }
}

/** QoS 1 throughput with `window` publishes in flight. */
export const qos1Windowed = async (port: number, total: number, window: number) => {
  const client = await connect(port, "window")
  const packets = Array.from({ length: 65535 }, (_, i) =>
    encode({
      _tag: "Publish",
      topic: "w",
      payload: new Uint8Array(64),
      qos: 1,
      packetId: i + 1,
      retain: false,
      dup: false
    })
  )
  let sent = 0
  let acked = 0
  const started = performance.now()
  await new Promise<void>((resolve) => {
    client.onPacket = (p) => {
      if (p._tag !== "Puback") return
      acked++
      if (acked === total) resolve()
      else if (sent < total) client.socket.write(packets[sent++ % 65535]!)
    }
    while (sent < Math.min(window, total)) client.socket.write(packets[sent++ % 65535]!)
  })
  client.close()
  return total / ((performance.now() - started) / 1000)
}

/** Opens `count` idle connections and keeps them until `close`. */
export const idleClients = async (port: number, count: number) => {
  const clients: Array<Client> = []
  for (let i = 0; i < count; i += 50) {
    clients.push(
      ...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => connect(port, `idle${i + j}`))))
    )
  }
  return {
    close: () => {
      for (const c of clients) c.close()
    }
  }
}

/**
 * Writes `bytes` again and again until the deadline, waiting whenever the
 * socket is full (and stopping at the deadline even while waiting). The
 * number of writes the socket took.
 */
const writeUntil = (client: Client, bytes: Buffer, deadline: number) =>
  new Promise<number>((resolve) => {
    let writes = 0
    let done = false
    const finish = () => {
      if (done) return
      done = true
      client.socket.off("drain", write)
      resolve(writes)
    }
    const timer = setTimeout(finish, Math.max(0, deadline - performance.now()))
    function write() {
      while (!done) {
        if (performance.now() >= deadline) {
          clearTimeout(timer)
          return finish()
        }
        writes++
        if (!client.socket.write(bytes)) return void client.socket.once("drain", write)
      }
    }
    write()
  })

const floodBatch = (topic: string, size: number) => {
  const one = encode({ _tag: "Publish", topic, payload: new Uint8Array(size), qos: 0, retain: false, dup: false })
  return Buffer.concat(Array.from({ length: 100 }, () => one))
}

/**
 * A publisher flood: `publishers` clients write QoS 0 PUBLISHes as fast as the
 * server takes them for `seconds`, to one subscriber that reads everything.
 * Messages per second the subscriber received.
 */
export const flood = async (port: number, publishers: number, seconds: number) => {
  const subscriber = await connect(port, "flood-sub")
  subscriber.socket.write(encode({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "flood", qos: 0 }] }))
  await until(subscriber, (p) => p._tag === "Suback")
  let received = 0
  subscriber.onPacket = (p) => {
    if (p._tag === "Publish") received++
  }
  const pubs = await Promise.all(Array.from({ length: publishers }, (_, i) => connect(port, `flood-pub${i}`)))
  const batch = floodBatch("flood", 64)
  const started = performance.now()
  await Promise.all(pubs.map((pub) => writeUntil(pub, batch, started + seconds * 1000)))
  const rate = received / ((performance.now() - started) / 1000)
  for (const c of [subscriber, ...pubs]) c.close()
  return rate
}

/**
 * A slow consumer: a subscriber that stops reading right after its SUBACK,
 * and a publisher writing QoS 0 PUBLISHes to it as fast as the server takes
 * them for `seconds`. Messages per second the server took from the publisher
 * (a server that queues without bound takes them all; one that pushes back
 * takes what its bounds allow).
 */
export const slowConsumer = async (port: number, seconds: number) => {
  const subscriber = await connect(port, "slow-sub")
  subscriber.socket.write(encode({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "slow", qos: 0 }] }))
  await until(subscriber, (p) => p._tag === "Suback")
  // From here on the subscriber reads nothing: its receive window fills, then the server's send buffer.
  subscriber.socket.pause()
  const pub = await connect(port, "slow-pub")
  const batch = floodBatch("slow", 64)
  const started = performance.now()
  const batches = await writeUntil(pub, batch, started + seconds * 1000)
  const rate = (batches * 100) / ((performance.now() - started) / 1000)
  for (const c of [subscriber, pub]) c.close()
  return rate
}
