/**
 * `npm run bench`: mqttest against aedes (and mosquitto when it is on PATH),
 * each server in its own process, the load generator in this one, peers
 * alternating run by run. Prints one table (median [min–max] over the runs,
 * and the ratio mqttest/peer) and writes bench/results.json.
 *
 * Options (environment): MQTTEST_BENCH_RUNS (default 3), MQTTEST_BENCH_SCALE
 * (default 1; 0.1 for a quick look), MQTTEST_BENCH_PHASE_SECONDS (default 30:
 * the publisher flood and slow consumer phases).
 *
 * aedes runs on this Node (22) and, when a Node 20 is installed, on Node 20
 * as well; mqttest/aedes compares with aedes's better figure of the two.
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
import { viewFigures } from "./view.js"

const RUNS = Number(process.env.MQTTEST_BENCH_RUNS ?? 3)
const SCALE = Number(process.env.MQTTEST_BENCH_SCALE ?? 1)
const PHASE_SECONDS = Number(process.env.MQTTEST_BENCH_PHASE_SECONDS ?? 30)
/** RSS samples taken before this are the warm-up of a phase. */
const WARM_UP_SECONDS = Math.min(5, PHASE_SECONDS / 6)
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

/** aedes on a given Node binary. */
const startAedes = async (node: string, secure = false): Promise<Running> => {
  const listeners = secure ? ["--tls", certFiles.cert, certFiles.key, "--ws"] : []
  const child = ChildProcess.spawn(node, [`${root}/bench/dist/aedes-server.mjs`, ...listeners], {
    stdio: ["ignore", "pipe", "ignore"]
  })
  const ports = JSON.parse(await firstLine(child)) as { port: number; tlsPort?: number; wsPort?: number }
  return { name: "aedes", ...ports, pid: child.pid!, stop: () => stopChild(child) }
}

/** A Node 20 besides this one (Debian's nodejs, or NODE20 in the environment), for aedes's second column. */
const node20 = [process.env.NODE20, "/usr/bin/node", "/usr/local/bin/node"].find(
  (path) =>
    path !== undefined &&
    Fs.existsSync(path) &&
    ChildProcess.spawnSync(path, ["--version"], { encoding: "utf8" }).stdout.startsWith("v20.")
)

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
  aedes: (_extra, secure) => startAedes(process.execPath, secure),
  ...(node20 === undefined ? {} : { "aedes (Node 20)": (_extra, secure) => startAedes(node20, secure) }),
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
const peers = [
  "mqttest",
  "aedes",
  ...(node20 === undefined ? [] : ["aedes (Node 20)"]),
  ...(hasMosquitto ? ["mosquitto"] : [])
]
/** The peers mqttest is compared with (aedes's two columns are one peer: its better figure counts). */
const compared = ["aedes", ...(hasMosquitto ? ["mosquitto"] : [])]

/** CPU seconds a process has used (Linux /proc). */
const cpuOf = (pid: number) => {
  const fields = Fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const statusKiB = (pid: number, field: "VmRSS" | "VmHWM") =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1])
const rssKiB = (pid: number) => statusKiB(pid, "VmRSS")

/** The highest RSS (VmHWM) of any server process of a peer in the current run, in KiB. */
const peakThisRun: Record<string, number> = {}
/** Starts a server of a peer; stopping it first notes its peak RSS. */
const startServer = async (peer: string, extra?: ReadonlyArray<string>, secure?: boolean): Promise<Running> => {
  const server = await servers[peer]!(extra, secure)
  return {
    ...server,
    stop: async () => {
      try {
        peakThisRun[peer] = Math.max(peakThisRun[peer] ?? 0, statusKiB(server.pid, "VmHWM"))
      } catch {}
      await server.stop()
    }
  }
}

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
  const server = await startServer(peer, extra, secure)
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

/** RSS over time of each peer's last run of a phase: [seconds, MiB] every second. */
const series: Record<string, Record<string, Array<readonly [number, number]>>> = {}

/**
 * A phase of `PHASE_SECONDS` against a fresh server, its RSS sampled every
 * second: the load's own figure, the peak RSS, and the growth after the
 * warm-up (last sample − the sample at `WARM_UP_SECONDS`).
 */
const phase = async (name: string, unit: string, peer: string, load: (server: Running) => Promise<number>) => {
  const server = await startServer(peer)
  const samples: Array<readonly [number, number]> = []
  const t0 = performance.now()
  const sample = () => {
    try {
      samples.push([Math.round((performance.now() - t0) / 1000), rssKiB(server.pid) / 1024])
    } catch {}
  }
  sample()
  const sampler = setInterval(sample, 1000)
  try {
    record(`${name}: ${unit}`, peer, { value: await load(server) })
    sample()
  } finally {
    clearInterval(sampler)
    await server.stop()
  }
  const warm = samples.find(([t]) => t >= WARM_UP_SECONDS) ?? samples[0]!
  record(`${name}: peak RSS (MiB)`, peer, { value: Math.max(...samples.map(([, mib]) => mib)) })
  record(`${name}: RSS growth after ${WARM_UP_SECONDS} s (MiB)`, peer, { value: samples.at(-1)![1] - warm[1] })
  const byPeer = series[name] ?? {}
  series[name] = byPeer
  byPeer[peer] = samples
}

/** Figures where less is better (the others: more is better). */
const lowerIsBetter = (figure: string) => /RSS|µs|\(ms\)|lost/.test(figure)

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
      // Memory under load: a publisher flood, and a consumer that stops reading.
      await phase("publisher flood (10 → 1, QoS 0, 64 B)", "msg/s", peer, (s) => Load.flood(s.port, 10, PHASE_SECONDS))
      await phase("slow consumer (1 → 1 not reading, QoS 0)", "msg/s taken", peer, (s) =>
        Load.slowConsumer(s.port, PHASE_SECONDS)
      )
      const server = await startServer(peer)
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
        // A dump of 10,000+ packets (one publisher → one subscriber, QoS 0, 5,000 messages) as an HTML view.
        const dumped = await startServer(peer, ["--dumps", `${dumpDir}/view.jsonl`])
        await Load.fanIn(dumped.port, 1, 5000, 64)
        await dumped.stop()
        const view = await viewFigures(`${root}/packages/cli/bin/mqttest.js`, `${dumpDir}/view.jsonl`)
        if (view !== undefined) {
          if (view.packets < 10_000) process.stderr.write(`the view's dump has only ${view.packets} packets\n`)
          record("mqttest view of a 10,000-packet dump (ms)", peer, { value: view.viewMs })
          record("its page's first drawing in Chromium (ms)", peer, { value: view.renderMs })
        }
        Fs.rmSync(dumpDir, { recursive: true, force: true })
        // Process spawn → first CONNACK (the CLI bundle), and a bare `node -e ""` for scale.
        const t0 = performance.now()
        const cli = await startServer("mqttest")
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
      record("peak RSS of any server process (MiB)", peer, { value: (peakThisRun[peer] ?? 0) / 1024 })
      delete peakThisRun[peer]
    }
  }

  const columns = [...peers, 'node -e ""']
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(3))
  const lines: Array<string> = [
    `| figure | ${columns.join(" | ")} | ${compared.map((p) => `mqttest/${p}`).join(" | ")} |`,
    `|---|${columns.map(() => "---").join("|")}|${compared.map(() => "---").join("|")}|`
  ]
  const summary: Record<string, unknown> = {}
  for (const [figure, byPeer] of Object.entries(results)) {
    const medianOf = (peer: string) =>
      byPeer[peer] === undefined ? undefined : median(byPeer[peer]!.map((s) => s.value))
    const cells = columns.map((peer) => {
      const samples = byPeer[peer]
      if (samples === undefined) return ""
      const values = samples.map((s) => s.value)
      const bound = [...new Set(samples.map((s) => s.bound).filter((b) => b !== undefined && b !== "neither"))]
      return `${fmt(median(values))} [${fmt(Math.min(...values))}–${fmt(Math.max(...values))}]${bound.length > 0 ? ` (${bound.join("/")}-bound)` : ""}`
    })
    const ours = medianOf("mqttest")
    const ratios = compared.map((peer) => {
      // aedes: its better figure of Node 22 and Node 20.
      const candidates = (peer === "aedes" ? ["aedes", "aedes (Node 20)"] : [peer])
        .map(medianOf)
        .filter((v): v is number => v !== undefined)
      // A growth is compared with its absolute bound (50 MB), not as a ratio.
      if (ours === undefined || candidates.length === 0 || figure.includes("growth")) return ""
      const theirs = lowerIsBetter(figure) ? Math.min(...candidates) : Math.max(...candidates)
      return theirs === 0 ? "" : `${(ours / theirs).toFixed(2)}×`
    })
    lines.push(`| ${figure} | ${cells.join(" | ")} | ${ratios.join(" | ")} |`)
    summary[figure] = byPeer
  }
  // RSS over time in each phase (the last run), every 5 s.
  for (const [name, byPeer] of Object.entries(series)) {
    const times = Array.from({ length: Math.floor(PHASE_SECONDS / 5) + 1 }, (_, i) => i * 5)
    lines.push("", `RSS (MiB) over time, ${name}, last run:`, "")
    lines.push(`| peer | ${times.map((t) => `${t} s`).join(" | ")} |`, `|---|${times.map(() => "---").join("|")}|`)
    for (const [peer, samples] of Object.entries(byPeer)) {
      const at = (t: number) => samples.find(([s]) => s >= t) ?? samples.at(-1)!
      lines.push(`| ${peer} | ${times.map((t) => at(t)[1].toFixed(0)).join(" | ")} |`)
    }
  }
  const table = lines.join("\n")
  process.stdout.write(`${table}\n`)
  Fs.writeFileSync(
    `${root}/bench/results.json`,
    `${JSON.stringify({ node: process.version, node20: node20 !== undefined, runs: RUNS, scale: SCALE, phaseSeconds: PHASE_SECONDS, cpus: Os.cpus().length, results: summary, rssOverTime: series }, null, 2)}\n`
  )
  process.stderr.write(`wrote bench/results.json\n`)
}

await main()
Fs.rmSync(certDir, { recursive: true, force: true })
process.exit(0)
