/**
 * `npm run bench`: mqttest against aedes (and mosquitto when it is on PATH),
 * each server in its own process, the load generator in this one, peers
 * alternating run by run. Prints one table (median [min–max] over the runs,
 * and the ratio mqttest/peer) and writes bench/results.json.
 *
 * Options (environment): MQTTEST_BENCH_RUNS (default 3), MQTTEST_BENCH_SCALE
 * (default 1; 0.1 for a quick look).
 */

import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { Certificates, MqttServer } from "@mqttest/server"
import { Effect, Exit, Scope } from "effect"
import * as Load from "./load.js"

const RUNS = Number(process.env.MQTTEST_BENCH_RUNS ?? 3)
const SCALE = Number(process.env.MQTTEST_BENCH_SCALE ?? 1)
const root = Path.resolve(import.meta.dirname, "..", "..")
const n = (value: number) => Math.max(1, Math.round(value * SCALE))

interface Running {
  readonly name: string
  readonly port: number
  /** The TLS and WebSocket listeners' ports, when the server was started with them. */
  readonly tlsPort?: number | undefined
  readonly wsPort?: number | undefined
  readonly pid: number
  readonly stop: () => Promise<void>
}

/** A throw-away certificate for the TLS and WebSocket rows (the load generator does not verify it). */
const certDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-bench-certs-"))
const certs = Effect.runSync(Certificates.make())
const certFiles = Effect.runSync(Certificates.writeFiles(certs.server, certDir, "server"))
// mosquitto started as root drops to its own user, which must read them (a throw-away key, for the bench only).
Fs.chmodSync(certDir, 0o755)
Fs.chmodSync(certFiles.key, 0o644)
const portOf = (urls: ReadonlyArray<string>, scheme: string) => {
  const url = urls.find((u) => u.startsWith(`${scheme}://`))
  return url === undefined ? undefined : Number(new URL(url).port)
}

const firstLine = (child: ChildProcess.ChildProcess) =>
  new Promise<string>((resolve, reject) => {
    Readline.createInterface({ input: child.stdout! }).once("line", resolve)
    child.once("exit", (code) => reject(new Error(`exited with ${code}`)))
  })

const stopChild = (child: ChildProcess.ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = Net.createServer()
    probe.listen(0, "127.0.0.1", () => {
      const port = (probe.address() as Net.AddressInfo).port
      probe.close(() => resolve(port))
    })
  })

const waitForPort = async (port: number) => {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const s = Net.createConnection({ host: "127.0.0.1", port })
      s.once("connect", () => {
        s.destroy()
        resolve(true)
      })
      s.once("error", () => resolve(false))
    })
    if (open) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`nothing listens on ${port}`)
}

/** Starts a server; with `secure`, also its TLS and WebSocket listeners. */
const servers: Record<string, (extra?: ReadonlyArray<string>, secure?: boolean) => Promise<Running>> = {
  mqttest: async (extra = [], secure = false) => {
    const listeners = secure
      ? ["--tls-cert", certFiles.cert, "--tls-key", certFiles.key, "--tls-ports", "0", "--ws", "0"]
      : []
    const child = ChildProcess.spawn(
      process.execPath,
      [`${root}/packages/cli/bin/mqttest.js`, "--ports", "0", ...listeners, ...extra],
      {
        stdio: ["ignore", "pipe", "ignore"]
      }
    )
    const { port, urls } = JSON.parse(await firstLine(child)) as { port: number; urls: ReadonlyArray<string> }
    return {
      name: "mqttest",
      port,
      tlsPort: portOf(urls, "mqtts"),
      wsPort: portOf(urls, "ws"),
      pid: child.pid!,
      stop: () => stopChild(child)
    }
  },
  aedes: async (_extra = [], secure = false) => {
    const listeners = secure ? ["--tls", certFiles.cert, certFiles.key, "--ws"] : []
    const child = ChildProcess.spawn(process.execPath, [`${root}/bench/dist/aedes-server.mjs`, ...listeners], {
      stdio: ["ignore", "pipe", "ignore"]
    })
    const ports = JSON.parse(await firstLine(child)) as { port: number; tlsPort?: number; wsPort?: number }
    return { name: "aedes", ...ports, pid: child.pid!, stop: () => stopChild(child) }
  },
  mosquitto: async (_extra = [], secure = false) => {
    const port = await freePort()
    const tlsPort = secure ? await freePort() : undefined
    const wsPort = secure ? await freePort() : undefined
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-bench-"))
    Fs.writeFileSync(
      `${dir}/mosquitto.conf`,
      [
        `per_listener_settings false`,
        `allow_anonymous true`,
        `max_queued_messages 0`,
        `listener ${port} 127.0.0.1`,
        ...(tlsPort === undefined
          ? []
          : [`listener ${tlsPort} 127.0.0.1`, `certfile ${certFiles.cert}`, `keyfile ${certFiles.key}`]),
        ...(wsPort === undefined ? [] : [`listener ${wsPort} 127.0.0.1`, `protocol websockets`]),
        ""
      ].join("\n")
    )
    const child = ChildProcess.spawn("mosquitto", ["-c", `${dir}/mosquitto.conf`], { stdio: "ignore" })
    await waitForPort(port)
    if (tlsPort !== undefined) await waitForPort(tlsPort)
    if (wsPort !== undefined) await waitForPort(wsPort)
    return {
      name: "mosquitto",
      port,
      tlsPort,
      wsPort,
      pid: child.pid!,
      stop: async () => {
        await stopChild(child)
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}

const hasMosquitto = ChildProcess.spawnSync("sh", ["-c", "command -v mosquitto"]).status === 0
const peers = ["mqttest", "aedes", ...(hasMosquitto ? ["mosquitto"] : [])]

/** CPU seconds a process has used (Linux /proc). */
const cpuOf = (pid: number) => {
  const fields = Fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1])

type Sample = { value: number; bound?: string }
const results: Record<string, Record<string, Array<Sample>>> = {}
const record = (figure: string, peer: string, sample: Sample) => {
  const byPeer = results[figure] ?? {}
  results[figure] = byPeer
  const samples = byPeer[peer] ?? []
  byPeer[peer] = samples
  samples.push(sample)
}

/** Runs a load against a fresh server and notes which side was CPU-bound. */
const measure = async (
  figure: string,
  peer: string,
  load: (server: Running) => Promise<number>,
  extra?: ReadonlyArray<string>,
  secure = false
) => {
  const server = await servers[peer]!(extra, secure)
  try {
    const cpuServer = cpuOf(server.pid)
    const cpuLoad = process.cpuUsage()
    const t0 = performance.now()
    const value = await load(server)
    const wall = (performance.now() - t0) / 1000
    const serverShare = (cpuOf(server.pid) - cpuServer) / wall
    const used = process.cpuUsage(cpuLoad)
    const loadShare = (used.user + used.system) / 1e6 / wall
    const bound = serverShare > 0.9 ? "server" : loadShare > 0.9 ? "load generator" : "neither"
    record(figure, peer, { value, bound })
  } finally {
    await server.stop()
  }
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const main = async () => {
  for (let run = 0; run < RUNS; run++) {
    // Alternate the order of the peers from run to run.
    const order = run % 2 === 0 ? peers : [...peers].reverse()
    for (const peer of order) {
      process.stderr.write(`run ${run + 1}/${RUNS}: ${peer}\n`)
      await measure("connect/s (sequential)", peer, (s) => Load.connectRate(s.port, n(2000), 1))
      await measure("connect/s (50 concurrent)", peer, (s) => Load.connectRate(s.port, n(5000), 50))
      let lost = 0
      await measure("QoS 0 fan-in msg/s (10 → 1, 64 B)", peer, async (s) => {
        const r = await Load.fanIn(s.port, 10, n(200_000), 64)
        lost = r.lost
        return r.rate
      })
      record("QoS 0 fan-in messages lost", peer, { value: lost })
      let p99 = 0
      await measure("QoS 1 round trip p50 (µs)", peer, async (s) => {
        const r = await Load.qos1RoundTrip(s.port, n(5000))
        p99 = r.p99
        return r.p50
      })
      record("QoS 1 round trip p99 (µs)", peer, { value: p99 })
      await measure("QoS 1 msg/s (100 in flight)", peer, (s) => Load.qos1Windowed(s.port, n(50_000), 100))
      // The same loads over TLS and over WebSocket (each server's own listeners).
      for (const [transport, name, portOf] of [
        ["tls", "TLS", (s: Running) => s.tlsPort],
        ["ws", "WebSocket", (s: Running) => s.wsPort]
      ] as const) {
        await measure(
          `connect/s over ${name} (50 concurrent)`,
          peer,
          (s) => Load.connectRate(portOf(s)!, n(2000), 50, transport),
          [],
          true
        )
        await measure(
          `QoS 0 fan-in msg/s over ${name}`,
          peer,
          async (s) => (await Load.fanIn(portOf(s)!, 10, n(200_000), 64, transport)).rate,
          [],
          true
        )
      }
      const server = await servers[peer]!()
      try {
        const base = rssKiB(server.pid)
        record("RSS idle (KiB)", peer, { value: base })
        const idle = await Load.idleClients(server.port, n(1000))
        record("RSS per idle client (KiB)", peer, { value: (rssKiB(server.pid) - base) / n(1000) })
        idle.close()
      } finally {
        await server.stop()
      }
      if (peer === "mqttest") {
        const dumpDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-bench-dump-"))
        await measure(
          "QoS 0 fan-in msg/s, dump on",
          peer,
          async (s) => (await Load.fanIn(s.port, 10, n(200_000), 64)).rate,
          ["--dumps", `${dumpDir}/all.jsonl`]
        )
        Fs.rmSync(dumpDir, { recursive: true, force: true })
        // Process spawn → first CONNACK (the CLI bundle), and a bare `node -e ""` for scale.
        const t0 = performance.now()
        const cli = await servers.mqttest!()
        await Load.connect(cli.port, "first").then((c) => c.close())
        record("spawn → first CONNACK (ms)", peer, { value: performance.now() - t0 })
        await cli.stop()
        const t1 = performance.now()
        ChildProcess.spawnSync(process.execPath, ["-e", ""])
        record("spawn → first CONNACK (ms)", 'node -e ""', { value: performance.now() - t1 })
        // In-process acquire + release on port 0.
        const times: Array<number> = []
        for (let i = 0; i < n(200); i++) {
          const t = performance.now()
          await Effect.runPromise(
            Effect.gen(function* () {
              const scope = yield* Scope.make()
              yield* Scope.provide(MqttServer.make({ ports: 0 }), scope)
              yield* Scope.close(scope, Exit.void)
            })
          )
          times.push(performance.now() - t)
        }
        record("in-process start + stop (ms)", peer, { value: median(times) })
      }
      if (peer === "aedes") {
        const { Aedes } = await import("aedes")
        const times: Array<number> = []
        for (let i = 0; i < n(200); i++) {
          const t = performance.now()
          const broker = await Aedes.createBroker()
          const server = Net.createServer(broker.handle)
          await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
          await new Promise<void>((r) => server.close(() => r()))
          await new Promise<void>((r) => broker.close(() => r()))
          times.push(performance.now() - t)
        }
        record("in-process start + stop (ms)", peer, { value: median(times) })
      }
    }
  }

  const columns = [...peers, 'node -e ""']
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(3))
  const lines: Array<string> = [
    `| figure | ${columns.join(" | ")} | ${peers
      .slice(1)
      .map((p) => `mqttest/${p}`)
      .join(" | ")} |`,
    `|---|${columns.map(() => "---").join("|")}|${peers
      .slice(1)
      .map(() => "---")
      .join("|")}|`
  ]
  const summary: Record<string, unknown> = {}
  for (const [figure, byPeer] of Object.entries(results)) {
    const cells = columns.map((peer) => {
      const samples = byPeer[peer]
      if (samples === undefined) return ""
      const values = samples.map((s) => s.value)
      const bound = [...new Set(samples.map((s) => s.bound).filter((b) => b !== undefined && b !== "neither"))]
      return `${fmt(median(values))} [${fmt(Math.min(...values))}–${fmt(Math.max(...values))}]${bound.length > 0 ? ` (${bound.join("/")}-bound)` : ""}`
    })
    const ours = byPeer.mqttest === undefined ? undefined : median(byPeer.mqttest.map((s) => s.value))
    const ratios = peers.slice(1).map((peer) => {
      const theirs = byPeer[peer] === undefined ? undefined : median(byPeer[peer]!.map((s) => s.value))
      return ours === undefined || theirs === undefined || theirs === 0 ? "" : `${(ours / theirs).toFixed(2)}×`
    })
    lines.push(`| ${figure} | ${cells.join(" | ")} | ${ratios.join(" | ")} |`)
    summary[figure] = byPeer
  }
  const table = lines.join("\n")
  process.stdout.write(`${table}\n`)
  Fs.writeFileSync(
    `${root}/bench/results.json`,
    `${JSON.stringify({ node: process.version, runs: RUNS, scale: SCALE, cpus: Os.cpus().length, results: summary }, null, 2)}\n`
  )
  process.stderr.write(`wrote bench/results.json\n`)
}

await main()
Fs.rmSync(certDir, { recursive: true, force: true })
process.exit(0)
