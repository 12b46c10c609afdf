/**
 * Soak: the bounds hold over time. A flood against subscribers that stopped
 * reading (the server in its own process, its RSS sampled from /proc), many
 * connect cycles (heap), and many connections with per-connection dumps (file
 * descriptors). Not part of `npm test`; `npm run soak` runs it
 * (MQTTEST_SOAK_FLOOD_SECONDS, default 30; MQTTEST_SOAK_CYCLES, default
 * 10000). CI runs it with small numbers.
 */

import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { Encoder, type Packet } from "@mqttest/codec"
import { start } from "@mqttest/server"
import { Result } from "effect"
import mqtt from "mqtt"
import { assert, test } from "vitest"

const FLOOD_SECONDS = Number(process.env.MQTTEST_SOAK_FLOOD_SECONDS ?? 30)
const CYCLES = Number(process.env.MQTTEST_SOAK_CYCLES ?? 10_000)

const encode = (packet: Packet.Packet) => Buffer.from(Result.getOrThrow(Encoder.encode(packet, 4)))
const connect = (clientId: string) => encode({ _tag: "Connect", protocolLevel: 4, clean: true, keepAlive: 0, clientId })

const rssKiB = (pid: number) => {
  const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1])
}

test(
  `a ${FLOOD_SECONDS} s QoS 0 flood against 5 subscribers that stopped reading: RSS stays flat, new clients are served`,
  async () => {
    const bin = Path.resolve(import.meta.dirname, "../../cli/bin/mqttest.js")
    const server = ChildProcess.spawn(process.execPath, [bin, "--ports", "0"], { stdio: ["ignore", "pipe", "inherit"] })
    try {
      const startup = await new Promise<string>((resolve) =>
        Readline.createInterface({ input: server.stdout! }).once("line", resolve)
      )
      const { host, port, url } = JSON.parse(startup) as { host: string; port: number; url: string }
      const sockets: Array<Net.Socket> = []
      const open = (bytes: Buffer) =>
        new Promise<Net.Socket>((resolve) => {
          const socket = Net.createConnection({ host, port }, () => resolve(socket))
          socket.on("error", () => {})
          sockets.push(socket)
          socket.write(bytes)
        })
      for (let i = 0; i < 5; i++) {
        const socket = await open(
          Buffer.concat([
            connect(`sleepy${i}`),
            encode({ _tag: "Subscribe", packetId: 1, subscriptions: [{ topicFilter: "#", qos: 0 }] })
          ])
        )
        socket.pause()
      }
      // The publisher writes as fast as the server takes it.
      const publisher = await open(connect("flooder"))
      const message = encode({
        _tag: "Publish",
        topic: "flood",
        payload: new Uint8Array(100).fill(0x61),
        qos: 0,
        retain: false,
        dup: false
      })
      const burst = Buffer.concat(Array.from({ length: 1000 }, () => message))
      let flooding = true
      const pump = () => {
        while (flooding && publisher.write(burst)) {}
      }
      publisher.on("drain", pump)
      pump()

      const samples: Array<number> = []
      const latencies: Array<number> = []
      for (let second = 0; second < FLOOD_SECONDS; second++) {
        // One new client a second: it must get its CONNACK while the flood goes on.
        const began = performance.now()
        const client = await mqtt.connectAsync(url, {
          clientId: `late${second}`,
          reconnectPeriod: 0,
          connectTimeout: 5000
        })
        latencies.push(performance.now() - began)
        await client.endAsync()
        await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, 1000 - (performance.now() - began))))
        samples.push(rssKiB(server.pid!))
      }
      flooding = false
      const warm = samples[Math.min(2, samples.length - 1)]!
      const peak = Math.max(...samples)
      console.log(
        `flood: RSS ${samples.map((kib) => Math.round(kib / 1024)).join(" ")} MiB; CONNACK within ${Math.round(Math.max(...latencies))} ms`
      )
      assert.isBelow(peak - warm, 200 * 1024, "RSS grew more than 200 MiB after warm-up")
      // Stopping with all that backlog is prompt: backed-up clients are closed, not flushed.
      const stopping = performance.now()
      const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)))
      server.kill("SIGTERM")
      assert.strictEqual(await exited, 0)
      const stopMs = performance.now() - stopping
      console.log(`flood: stopped in ${Math.round(stopMs)} ms`)
      assert.isBelow(stopMs, 5000)
      for (const socket of sockets) socket.destroy()
    } finally {
      server.kill("SIGKILL")
    }
  },
  60_000 + FLOOD_SECONDS * 2000
)

test(`${CYCLES} connect cycles leave neither heap nor file descriptors behind (per-connection dumps)`, async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-soak-"))
  const gc = (globalThis as { gc?: () => void }).gc
  const descriptors = () => Fs.readdirSync("/proc/self/fd").length
  const server = await start({ ports: 0, dumpPrefix: `${dir}/`, dumps: ["conn-{c}.jsonl"], connectionHistory: 100 })
  try {
    const cycle = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const socket = Net.createConnection({ host: server.host, port: server.port })
        socket.on("error", reject)
        socket.once("data", () => socket.end(encode({ _tag: "Disconnect" })))
        socket.once("close", () => resolve())
        socket.write(connect(`cycle${i}`))
      })
    // Warm up, then measure.
    for (let i = 0; i < 200; i++) await cycle(i)
    gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    const fdsBefore = descriptors()
    for (let i = 200; i < CYCLES; i++) await cycle(i)
    // The last close is written once a new client gets its CONNACK (the dump comes first).
    await cycle(CYCLES)
    gc?.()
    const grown = process.memoryUsage().heapUsed - heapBefore
    const fds = descriptors() - fdsBefore
    console.log(`cycles: ${CYCLES}, heap ${(grown / 1024 / 1024).toFixed(1)} MiB, descriptors ${fds}`)
    assert.isBelow(grown, 16 * 1024 * 1024)
    assert.isAtMost(fds, 2)
    const stats = await server.stats()
    assert.strictEqual(stats.connections, CYCLES + 1)
    assert.strictEqual(stats.perConnection.length, 100)
  } finally {
    await server.stop()
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}, 600_000)
