/**
 * Soak: many clients publishing to each other at QoS 1 and 2 for a bounded
 * time, then leaving. Not part of `npm test`; `npm run soak` runs it
 * (MQTTEST_SOAK_CLIENTS, default 1000; MQTTEST_SOAK_MESSAGES per client,
 * default 20). CI runs it once with small numbers.
 */

import * as Net from "node:net"
import { Encoder, type Packet, Parser } from "@mqttest/codec"
import { type Handle, start } from "@mqttest/server"
import { Result } from "effect"
import { assert, test } from "vitest"

const CLIENTS = Number(process.env.MQTTEST_SOAK_CLIENTS ?? 1000)
const MESSAGES = Number(process.env.MQTTEST_SOAK_MESSAGES ?? 20)

const encode = (packet: Packet.Packet) => Result.getOrThrow(Encoder.encode(packet, 4))

/** A raw MQTT 3.1.1 client that acknowledges everything and records what it receives. */
const client = (server: Handle, index: number) =>
  new Promise<{
    readonly received: Array<string>
    readonly close: () => Promise<void>
    readonly publish: (n: number) => void
  }>((resolve, reject) => {
    const received: Array<string> = []
    const parser = Parser.make({ protocolLevel: 4 })
    const socket = Net.createConnection({ host: server.host, port: server.port })
    socket.setNoDelay(true)
    let nextId = 1
    const pendingAcks = new Set<number>()
    let onAllAcked: (() => void) | undefined
    socket.on("error", reject)
    socket.on("connect", () => {
      socket.write(encode({ _tag: "Connect", protocolLevel: 4, clean: true, keepAlive: 60, clientId: `soak${index}` }))
      socket.write(
        encode({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: `soak/${index}`, qos: 2 }] })
      )
    })
    socket.on("data", (chunk: Buffer) => {
      const parsed = parser.push(new Uint8Array(chunk))
      if (parsed.error) reject(parsed.error)
      for (const packet of parsed.packets) {
        switch (packet._tag) {
          case "Suback":
            resolve({
              received,
              publish: (n) => {
                for (let i = 0; i < n; i++) {
                  const qos = ((i % 2) + 1) as 1 | 2
                  const packetId = nextId++
                  pendingAcks.add(packetId)
                  socket.write(
                    encode({
                      _tag: "Publish",
                      topic: `soak/${(index + 1) % CLIENTS}`,
                      payload: new TextEncoder().encode(`${index}:${i}`),
                      qos,
                      packetId,
                      retain: false,
                      dup: false
                    })
                  )
                }
              },
              close: () =>
                new Promise<void>((done) => {
                  const finish = () => {
                    socket.end(encode({ _tag: "Disconnect" }))
                    socket.once("close", () => done())
                  }
                  if (pendingAcks.size === 0) finish()
                  else onAllAcked = finish
                })
            })
            break
          case "Publish":
            received.push(new TextDecoder().decode(packet.payload))
            if (packet.qos === 1) socket.write(encode({ _tag: "Puback", packetId: packet.packetId! }))
            if (packet.qos === 2) socket.write(encode({ _tag: "Pubrec", packetId: packet.packetId! }))
            break
          case "Pubrel":
            socket.write(encode({ _tag: "Pubcomp", packetId: packet.packetId }))
            break
          case "Puback":
          case "Pubcomp":
            pendingAcks.delete(packet.packetId)
            if (pendingAcks.size === 0) onAllAcked?.()
            break
          case "Pubrec":
            socket.write(encode({ _tag: "Pubrel", packetId: packet.packetId }))
            break
        }
      }
    })
  })

test(`${CLIENTS} clients × ${MESSAGES} messages at QoS 1 and 2: nothing lost or duplicated, nothing left behind`, async () => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length
  const server = await start({ ports: 0, eventBufferSize: 100 })
  try {
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(server, i)))
    for (const c of clients) c.publish(MESSAGES)
    await Promise.all(clients.map((c) => c.close()))
    for (let i = 0; i < CLIENTS; i++) {
      const from = (i - 1 + CLIENTS) % CLIENTS
      const expected = Array.from({ length: MESSAGES }, (_, n) => `${from}:${n}`)
      // Every message arrives, and no QoS 2 message twice (QoS 1 may repeat only after a resend).
      assert.includeMembers(clients[i]!.received, expected, `client ${i}`)
      const qos2 = clients[i]!.received.filter((m) => Number(m.split(":")[1]) % 2 === 1)
      assert.strictEqual(new Set(qos2).size, qos2.length, `client ${i} got a QoS 2 message twice`)
    }
    const stats = await server.stats()
    assert.strictEqual(stats.openConnections, 0)
    assert.strictEqual(stats.connections, CLIENTS)
  } finally {
    await server.stop()
  }
  const timersAfter = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length
  assert.isAtMost(timersAfter, timersBefore, "timers left behind")
  gc?.()
  const grown = process.memoryUsage().heapUsed - heapBefore
  console.log(`soak: ${CLIENTS} clients, heap ${(grown / 1024 / 1024).toFixed(1)} MiB above the start`)
  assert.isBelow(grown, 64 * 1024 * 1024)
}, 120_000)
