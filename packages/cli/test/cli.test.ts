/**
 * The real CLI, spawned as a process, driven as a test harness in another
 * language would: read the first stdout line, connect, talk JSON lines.
 */

import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { Certificates, Dump, ServerEvent } from "@mqttest/server"
import { Effect, Schema, Stream } from "effect"
import mqtt from "mqtt"
import { afterEach, assert, describe, test } from "vitest"

const bin = Path.resolve(import.meta.dirname, "../bin/mqttest.js")
const decodeEvent = Schema.decodeUnknownSync(Schema.toCodecJson(ServerEvent.ServerEvent))

interface Cli {
  readonly proc: ChildProcess.ChildProcess
  /** The next stdout line. */
  readonly line: () => Promise<string>
  readonly stderr: () => string
  readonly exit: Promise<number>
  readonly send: (line: string) => void
}

const running: Array<Cli> = []
afterEach(() => {
  for (const cli of running.splice(0)) cli.proc.kill("SIGKILL")
})

const spawnCli = (args: ReadonlyArray<string>): Cli => {
  const proc = ChildProcess.spawn(process.execPath, [bin, ...args], { stdio: ["pipe", "pipe", "pipe"] })
  const pending: Array<string> = []
  const waiters: Array<(line: string) => void> = []
  Readline.createInterface({ input: proc.stdout! }).on("line", (line) => {
    const waiter = waiters.shift()
    if (waiter) waiter(line)
    else pending.push(line)
  })
  let stderr = ""
  proc.stderr!.on("data", (chunk) => {
    stderr += chunk
  })
  const exit = new Promise<number>((resolve) => proc.on("exit", (code) => resolve(code ?? -1)))
  const cli: Cli = {
    proc,
    line: () => {
      const next = pending.shift()
      return next !== undefined ? Promise.resolve(next) : new Promise((resolve) => waiters.push(resolve))
    },
    stderr: () => stderr,
    exit,
    send: (line) => proc.stdin!.write(`${line}\n`)
  }
  running.push(cli)
  return cli
}

/** Spawns the CLI and reads its startup line. */
const start = async (args: ReadonlyArray<string>) => {
  const cli = spawnCli(["--ports", "0", ...args])
  const startup = JSON.parse(await cli.line()) as {
    host: string
    port: number
    url: string
    urls: ReadonlyArray<string>
  }
  return { cli, ...startup }
}

/** The next stdout line that is an event matching the predicate. */
const nextEvent = async <E extends ServerEvent.ServerEvent>(
  cli: Cli,
  predicate: (e: ServerEvent.ServerEvent) => e is E
) => {
  while (true) {
    const json = JSON.parse(await cli.line())
    if (!("_tag" in json)) continue
    const event = decodeEvent(json)
    if (predicate(event)) return event
  }
}

const tempDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-cli-"))

describe("mqttest CLI", () => {
  test("prints the bound address as its first stdout line, serves, and exits 0 on SIGTERM", async () => {
    const { cli, host, port, url } = await start([])
    assert.strictEqual(host, "127.0.0.1")
    assert.strictEqual(url, `mqtt://127.0.0.1:${port}`)
    const client = await mqtt.connectAsync(url, { clientId: "c", reconnectPeriod: 0 })
    await client.subscribeAsync("t", { qos: 1 })
    await client.endAsync()
    cli.proc.kill("SIGTERM")
    assert.strictEqual(await cli.exit, 0)
  })

  test("an advisory client-id warning is logged at info, not at the default warn level", async () => {
    const stderrFor = async (args: ReadonlyArray<string>) => {
      const { cli, url } = await start(["--events", ...args])
      // MQTT.js's generated ids look like this one: accepted, but outside [0-9a-zA-Z].
      const client = await mqtt.connectAsync(url, { clientId: "mqttjs_1a2b3c4d", reconnectPeriod: 0 })
      const warning = await nextEvent(cli, ServerEvent.is("Warning"))
      assert.strictEqual(warning.spec, "MQTT-3.1.3-5")
      await client.endAsync()
      cli.proc.kill("SIGTERM")
      assert.strictEqual(await cli.exit, 0)
      return cli.stderr()
    }
    assert.notInclude(await stderrFor([]), "MQTT-3.1.3-5")
    assert.include(await stderrFor(["-v"]), 'warning: client id "mqttjs_1a2b3c4d"')
  })

  test("client ids are escaped in log lines: a newline cannot forge a line", async () => {
    const { cli, url } = await start(["-v"])
    const client = await mqtt.connectAsync(url, { clientId: "evil\nmqttest: forged\u001b[31m", reconnectPeriod: 0 })
    await client.endAsync()
    cli.proc.kill("SIGTERM")
    assert.strictEqual(await cli.exit, 0)
    const lines = cli.stderr().split("\n")
    assert.isTrue(
      lines.some((line) => line.includes("(evil\\u000amqttest: forged\\u001b[31m) closed")),
      cli.stderr()
    )
    assert.isFalse(lines.some((line) => line.startsWith("mqttest: forged")))
    assert.notInclude(cli.stderr(), "\u001b")
  })

  test("--events writes every event as a JSON line with the library's Schema", async () => {
    const { cli, url } = await start(["--events"])
    const listening = await nextEvent(cli, ServerEvent.is("Listening"))
    assert.isAbove(listening.port, 0)
    const client = await mqtt.connectAsync(url, { clientId: "ev", reconnectPeriod: 0 })
    const connect = await nextEvent(cli, ServerEvent.isPacket("PacketReceived", "Connect"))
    assert.strictEqual(connect.packet.clientId, "ev")
    await client.endAsync()
    const closed = await nextEvent(cli, ServerEvent.is("ConnectionClosed"))
    assert.strictEqual(closed.reason, "ClientDisconnect")
    cli.proc.kill("SIGINT")
    const stopped = await nextEvent(cli, ServerEvent.is("ServerStopped"))
    assert.strictEqual(stopped.stats.connections, 1)
    assert.strictEqual(await cli.exit, 0)
  })

  test("--events never loses an event silently: a reader that falls behind gets an EventsLost line", async () => {
    const dir = tempDir()
    try {
      Fs.writeFileSync(`${dir}/c.json`, JSON.stringify({ eventBufferSize: 20 }))
      const { cli, url } = await start(["--events", "--config", `${dir}/c.json`])
      // The harness stops reading stdout while 2000 messages go through the server.
      cli.proc.stdout!.pause()
      const sub = await mqtt.connectAsync(url, { clientId: "sub", reconnectPeriod: 0 })
      await sub.subscribeAsync("t")
      const pub = await mqtt.connectAsync(url, { clientId: "pub", reconnectPeriod: 0 })
      for (let i = 0; i < 2000; i++) pub.publish("t", `message ${i}`)
      await pub.publishAsync("t", "last", { qos: 1 })
      await Promise.all([pub.endAsync(), sub.endAsync()])
      cli.proc.stdout!.resume()
      cli.proc.kill("SIGTERM")
      let lost = 0
      let publishes = 0
      for (;;) {
        const event = decodeEvent(JSON.parse(await cli.line()))
        if (event._tag === "EventsLost") lost += event.count
        if (event._tag === "PacketReceived" && event.packet._tag === "Publish") publishes++
        if (event._tag === "ServerStopped") break
      }
      assert.strictEqual(await cli.exit, 0)
      assert.isAbove(lost, 0)
      assert.isAtLeast(publishes + lost, 2001)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("without --events, a flood of packets costs the log nothing: no events lost, a later warning still shown", async () => {
    const dir = tempDir()
    try {
      Fs.writeFileSync(`${dir}/c.json`, JSON.stringify({ eventBufferSize: 20 }))
      const { cli, port } = await start(["--config", `${dir}/c.json`])
      // A raw subscriber that reads as fast as the server writes (so nothing slows the flood down):
      // CONNECT "s", SUBSCRIBE "t" at QoS 0; it counts the bytes of CONNACK, SUBACK and 20,000 PUBLISHes.
      const sub = Net.createConnection({ host: "127.0.0.1", port })
      sub.write(Buffer.from([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 1, 0x73]))
      sub.write(Buffer.from([0x82, 6, 0, 1, 0, 1, 0x74, 0]))
      let bytes = 0
      let subscribed: () => void = () => {}
      const all = new Promise<void>((resolve) =>
        sub.on("data", (chunk: Buffer) => {
          bytes += chunk.length
          if (bytes === 4 + 5) subscribed()
          if (bytes === 4 + 5 + 20_000 * 6) resolve()
        })
      )
      await new Promise<void>((resolve) => {
        subscribed = resolve
      })
      // 20,000 QoS 0 PUBLISHes in one write (CONNECT "p", then PUBLISH "t" "x" each), then DISCONNECT.
      const connect = Buffer.from([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 1, 0x70])
      const publish = Buffer.from([0x30, 0x04, 0, 1, 0x74, 0x78])
      const flood = Net.createConnection({ host: "127.0.0.1", port })
      flood.end(Buffer.concat([connect, ...Array.from({ length: 20_000 }, () => publish), Buffer.from([0xe0, 0])]))
      await all
      sub.destroy()
      // Then a client whose first packet is a PINGREQ: a protocol violation, logged at the default level.
      const raw = Net.createConnection({ host: "127.0.0.1", port })
      raw.write(Buffer.from([0xc0, 0x00]))
      await new Promise((resolve) => raw.once("close", resolve))
      cli.proc.kill("SIGTERM")
      assert.strictEqual(await cli.exit, 0)
      assert.notInclude(cli.stderr(), "events lost")
      assert.notInclude(cli.stderr(), "event buffer full")
      assert.match(cli.stderr(), /protocol violation/)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("--max-keep-alive: MQTT 5 clients over it are told it; --max-keep-alive-mqtt3 accept lets MQTT 3 ones in", async () => {
    const { cli, url } = await start(["--max-keep-alive", "20", "--max-keep-alive-mqtt3", "accept"])
    const v5 = mqtt.connect(url, { protocolVersion: 5, clientId: "v5", keepalive: 300, reconnectPeriod: 0 })
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => v5.once("connect", resolve))
    assert.strictEqual(connack.properties?.serverKeepAlive, 20)
    const v4 = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: "v4", keepalive: 300, reconnectPeriod: 0 })
    assert.isTrue(v4.connected)
    await Promise.all([v5.endAsync(), v4.endAsync()])
    cli.proc.kill("SIGTERM")
    assert.strictEqual(await cli.exit, 0)
    assert.match(cli.stderr(), /keep alive 300 s over the maximum of 20 s: accepted with the client's own/)
  })

  test("--max-keep-alive: an MQTT 3.1.1 client over it is refused (0x02) by default", async () => {
    const { cli, url } = await start(["--max-keep-alive", "20"])
    const client = mqtt.connect(url, { protocolVersion: 4, clientId: "v4", keepalive: 300, reconnectPeriod: 0 })
    const error = await new Promise<Error & { code?: number }>((resolve) => client.once("error", resolve))
    client.end(true)
    assert.strictEqual(error.code, 2)
    cli.proc.kill("SIGTERM")
    assert.strictEqual(await cli.exit, 0)
  })

  test("a config file's authentication script: a three-step exchange with MQTT.js", async () => {
    const dir = tempDir()
    try {
      const steps = [
        { expect: "hello", reply: "continue", data: "c1" },
        { expect: "r1", reply: "continue", data: { hex: "6332" } },
        { expect: "r2", reply: "success", data: "welcome" }
      ]
      Fs.writeFileSync(`${dir}/c.json`, JSON.stringify({ authentication: { TOKEN: { steps } } }))
      const { cli, url } = await start(["--config", `${dir}/c.json`])
      const client = mqtt.connect(url, {
        protocolVersion: 5,
        clientId: "auth",
        reconnectPeriod: 0,
        properties: { authenticationMethod: "TOKEN", authenticationData: Buffer.from("hello") }
      })
      const answers: Record<string, string> = { c1: "r1", c2: "r2" }
      client.handleAuth = (packet, callback) =>
        callback(undefined, {
          cmd: "auth",
          reasonCode: 0x18,
          properties: {
            authenticationMethod: "TOKEN",
            authenticationData: Buffer.from(answers[`${packet.properties?.authenticationData}`] ?? "?")
          }
        })
      const connack = await new Promise<mqtt.IConnackPacket>((resolve) => client.once("connect", resolve))
      assert.strictEqual(`${connack.properties?.authenticationData}`, "welcome")
      await client.endAsync()
      cli.proc.kill("SIGTERM")
      assert.strictEqual(await cli.exit, 0)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("mqttest timeline DUMP: the dump as timeline lines, no colours when stdout is not a terminal", async () => {
    const dir = tempDir()
    try {
      const { cli, url } = await start(["--dumps", `${dir}/run.jsonl`])
      const client = await mqtt.connectAsync(url, { clientId: "tl", reconnectPeriod: 0 })
      await client.publishAsync("t/1", "hello", { qos: 1 })
      await client.endAsync()
      cli.proc.kill("SIGTERM")
      assert.strictEqual(await cli.exit, 0)
      // stdout is a pipe here, not a terminal.
      const timeline = ChildProcess.spawnSync(process.execPath, [bin, "timeline", `${dir}/run.jsonl`], {
        encoding: "utf8"
      })
      assert.strictEqual(timeline.status, 0, timeline.stderr)
      const lines = timeline.stdout.trimEnd().split("\n")
      const packets = lines.filter((l) => / [→←] /.test(l)).map((l) => l.replace(/^.* ([→←] \S+).*$/, "$1"))
      assert.deepStrictEqual(packets, ["→ CONNECT", "← CONNACK", "→ PUBLISH", "← PUBACK", "→ DISCONNECT"])
      assert.isTrue(lines.every((l) => !l.includes("\u001b[")))
      assert.match(lines.find((l) => l.includes("→ PUBLISH")) ?? "", /q1 id=\d+ "t\/1" 5 B$/)
      // On a terminal (util-linux's `script` gives it one): colours, unless NO_COLOR is set.
      const onTerminal = (env: NodeJS.ProcessEnv) =>
        ChildProcess.spawnSync(
          "script",
          ["-qec", `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} timeline ${dir}/run.jsonl`, "/dev/null"],
          { encoding: "utf8", env: { ...process.env, ...env } }
        ).stdout
      assert.include(onTerminal({ NO_COLOR: "" }), "\u001b[36m")
      assert.notInclude(onTerminal({ NO_COLOR: "1" }), "\u001b[36m")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("mqttest view DUMP [-o FILE]: one HTML page with the run's packets, its path on stdout", async () => {
    const dir = tempDir()
    try {
      const { cli, url } = await start(["--dumps", `${dir}/run.jsonl`])
      const client = await mqtt.connectAsync(url, { clientId: "viewed", reconnectPeriod: 0 })
      await client.publishAsync("t/1", "hello", { qos: 1 })
      await client.endAsync()
      cli.proc.kill("SIGTERM")
      assert.strictEqual(await cli.exit, 0)
      const model = (file: string) => {
        const html = Fs.readFileSync(file, "utf8")
        const data = /<script type="application\/json" id="mqttest-data">(.*?)<\/script>/s.exec(html)![1]!
        return JSON.parse(data) as { items: Array<{ k: string; p?: string; id?: string }> }
      }
      // Without -o: next to the dump, named after it.
      const byDefault = ChildProcess.spawnSync(process.execPath, [bin, "view", `${dir}/run.jsonl`], {
        encoding: "utf8"
      })
      assert.strictEqual(byDefault.status, 0, byDefault.stderr)
      assert.strictEqual(byDefault.stdout, `${dir}/run.html\n`)
      const packets = model(`${dir}/run.html`).items.filter((item) => item.p !== undefined)
      assert.deepStrictEqual(
        packets.map((item) => `${item.k} ${item.p}`),
        ["in CONNECT", "out CONNACK", "in PUBLISH", "out PUBACK", "in DISCONNECT"]
      )
      assert.isTrue(packets.every((item) => item.id === "viewed"))
      const named = ChildProcess.spawnSync(
        process.execPath,
        [bin, "view", `${dir}/run.jsonl`, "-o", `${dir}/out/x.html`],
        {
          encoding: "utf8"
        }
      )
      assert.strictEqual(named.status, 0, named.stderr)
      assert.strictEqual(named.stdout, `${dir}/out/x.html\n`)
      assert.deepStrictEqual(model(`${dir}/out/x.html`), model(`${dir}/run.html`))
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("mqttest pcap DUMP -o FILE and --pcap FILE: captures tshark decodes as MQTT", async () => {
    const dir = tempDir()
    try {
      const { cli, url } = await start(["--dumps", `${dir}/run.jsonl`, "--pcap", `${dir}/live.pcapng`])
      const client = await mqtt.connectAsync(url, { clientId: "cap", reconnectPeriod: 0 })
      await client.publishAsync("t/1", "hello", { qos: 1 })
      await client.endAsync()
      cli.proc.kill("SIGTERM")
      assert.strictEqual(await cli.exit, 0)
      const pcap = ChildProcess.spawnSync(
        process.execPath,
        [bin, "pcap", `${dir}/run.jsonl`, "-o", `${dir}/run.pcapng`],
        {
          encoding: "utf8"
        }
      )
      assert.strictEqual(pcap.status, 0, pcap.stderr)
      for (const file of ["run.pcapng", "live.pcapng"]) {
        const tshark = ChildProcess.spawnSync(
          "tshark",
          ["-r", `${dir}/${file}`, "-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype", "-e", "mqtt.topic"],
          { encoding: "utf8" }
        )
        assert.isUndefined(tshark.error, "tshark is missing (apt-get install tshark)")
        const rows = tshark.stdout.split("\n").filter((row) => row !== "")
        assert.deepStrictEqual(rows, ["1\t", "2\t", "3\tt/1", "4\t", "14\t"], file)
      }
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("--events --pretty: every event as a timeline line instead of JSON", async () => {
    const { cli, url } = await start(["--events", "--pretty"])
    const client = await mqtt.connectAsync(url, { clientId: "pretty", reconnectPeriod: 0 })
    let line = ""
    while (!line.includes("→ CONNECT")) line = await cli.line()
    assert.match(line, /c\d+ pretty +→ CONNECT v3\.1\.1 id="pretty"/)
    assert.throws(() => JSON.parse(line))
    await client.endAsync()
    cli.proc.kill("SIGTERM")
    assert.strictEqual(await cli.exit, 0)
  })

  test("--control stdin: commands in, one answer each out", async () => {
    const { cli, url } = await start(["--control", "stdin"])
    const client = await mqtt.connectAsync(url, { clientId: "ctl", reconnectPeriod: 0 })
    await client.subscribeAsync("news", { qos: 1 })
    const message = new Promise<string>((resolve) => client.once("message", (_t, payload) => resolve(`${payload}`)))
    cli.send(JSON.stringify({ id: 1, cmd: "publish", topic: "news", payload: "hello", qos: 1 }))
    assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 1, ok: true })
    assert.strictEqual(await message, "hello")
    cli.send(JSON.stringify({ id: "s", cmd: "stats" }))
    const stats = JSON.parse(await cli.line())
    assert.strictEqual(stats.reply, "s")
    assert.strictEqual(stats.result.openConnections, 1)
    cli.send(JSON.stringify({ id: 2, cmd: "configure", config: { ackDelay: 10 } }))
    assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 2, ok: true })
    for (const [id, command] of [
      ["wild", { cmd: "publish", topic: "a/#", payload: "x" }],
      ["empty", { cmd: "publish", topic: "", payload: "x" }],
      ["nul", { cmd: "publish", topic: "a\u0000b", payload: "x" }],
      ["code", { cmd: "disconnect", connection: 0, reasonCode: 999 }]
    ] as const) {
      cli.send(JSON.stringify({ id, ...command }))
      const refused = JSON.parse(await cli.line())
      assert.deepStrictEqual([refused.reply, refused.ok], [id, false], JSON.stringify(refused))
    }
    cli.send(JSON.stringify({ id: "typo", cmd: "configure", config: { ackDelai: 10 } }))
    const typo = JSON.parse(await cli.line())
    assert.deepStrictEqual([typo.reply, typo.ok], ["typo", false])
    assert.include(typo.error, "ackDelai: unknown option; did you mean ackDelay?")
    cli.send(JSON.stringify({ id: 3, cmd: "send", connection: 0, packet: { _tag: "Pingresp" } }))
    assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 3, ok: true })
    cli.send(JSON.stringify({ id: 4, cmd: "explode" }))
    const bad = JSON.parse(await cli.line())
    assert.deepStrictEqual([bad.reply, bad.ok], [4, false])
    cli.send(JSON.stringify({ id: 5, cmd: "disconnect", connection: 9 }))
    assert.include(JSON.parse(await cli.line()).error, "connection 9 is not open")
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()))
    cli.send(JSON.stringify({ id: 6, cmd: "disconnect", connection: 0 }))
    assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 6, ok: true })
    await closed
    await client.endAsync(true)
    cli.send(JSON.stringify({ id: 7, cmd: "stop" }))
    const stopped = JSON.parse(await cli.line())
    assert.deepStrictEqual([stopped.reply, stopped.ok, stopped.result.connections], [7, true, 1])
    assert.strictEqual(await cli.exit, 0)
  })

  test("values that start with - are the original mqttest's 'unset': --max-pkt -,2 --ack-delay -,400 --max-time -,5000", async () => {
    const { cli, url } = await start(["--max-pkt", "-,2", "--ack-delay", "-,400", "--max-time", "-,5000", "--events"])
    const first = await mqtt.connectAsync(url, { clientId: "first", reconnectPeriod: 0 })
    // Connection 0: no max-pkt, no ack delay: three packets later it still answers.
    await first.publishAsync("t", "1", { qos: 1 })
    await first.publishAsync("t", "2", { qos: 1 })
    await first.subscribeAsync("t")
    const second = await mqtt.connectAsync(url, { clientId: "second", reconnectPeriod: 0 })
    second.publish("t", "x", { qos: 1 })
    const fault = await nextEvent(
      cli,
      ServerEvent.is("FaultInjected", (e) => e.fault === "ackDelay")
    )
    assert.deepStrictEqual([fault.connection, fault.detail], [1, "PUBACK delayed by 400 ms"])
    const closed = await nextEvent(cli, ServerEvent.is("ConnectionClosed"))
    assert.deepStrictEqual([closed.connection, closed.reason], [1, "MaxPackets"])
    assert.isTrue(first.connected)
    await first.endAsync()
    second.end(true)
    cli.proc.kill("SIGTERM")
    assert.strictEqual(await cli.exit, 0)
    // A lone "-" for a whole option (with or without "=") is "not set".
    for (const args of [["--ack-delay", "-"], ["--ack-delay=-"], ["--connack-delay", "-", "--max-time", "-"]]) {
      const unset = await start(args)
      unset.cli.proc.kill("SIGTERM")
      assert.strictEqual(await unset.cli.exit, 0, args.join(" "))
    }
  })

  test("control: commands written before the startup line are answered once the server is ready", async () => {
    for (let run = 0; run < 5; run++) {
      const cli = spawnCli(["--ports", "0", "--control", "stdin"])
      cli.send(JSON.stringify({ id: 1, cmd: "stats" }))
      cli.send(JSON.stringify({ id: 2, cmd: "configure", config: { ackDelay: 5 } }))
      assert.include(await cli.line(), '"port"')
      assert.strictEqual(JSON.parse(await cli.line()).reply, 1)
      assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 2, ok: true })
      cli.proc.stdin!.end()
      assert.strictEqual(await cli.exit, 0)
    }
  })

  test("control: the end of stdin answers what came before it, then stops with 0", async () => {
    const cli = spawnCli(["--ports", "0", "--control", "stdin"])
    cli.proc.stdin!.end(`${JSON.stringify({ id: 1, cmd: "stats" })}\n`)
    assert.include(await cli.line(), '"port"')
    const answer = JSON.parse(await cli.line())
    assert.deepStrictEqual([answer.reply, answer.ok, answer.result.connections], [1, true, 0])
    assert.strictEqual(await cli.exit, 0)
    const empty = spawnCli(["--ports", "0", "--control", "stdin"])
    empty.proc.stdin!.end()
    assert.include(await empty.line(), '"port"')
    assert.strictEqual(await empty.exit, 0)
  })

  test("control: offline with a duration is answered, and so is every later command", async () => {
    const { cli, host, port } = await start(["--control", "stdin", "--events"])
    cli.send(JSON.stringify({ id: 1, cmd: "offline", duration: 200 }))
    const reply = async (id: number) => {
      for (;;) {
        const json = JSON.parse(await cli.line())
        if (json.reply === id) return json
      }
    }
    assert.deepStrictEqual(await reply(1), { reply: 1, ok: true })
    await nextEvent(
      cli,
      ServerEvent.is("Warning", (e) => e.message.startsWith("back online"))
    )
    const socket = Net.createConnection({ host, port })
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject))
    socket.destroy()
    cli.send(JSON.stringify({ id: 2, cmd: "reset" }))
    assert.deepStrictEqual(await reply(2), { reply: 2, ok: true })
    cli.proc.stdin!.end()
    assert.strictEqual(await cli.exit, 0)
  })

  test("SIGKILL under load: every PUBLISH a client got its PUBACK for is in the dump", async () => {
    const dir = tempDir()
    try {
      const { cli, url } = await start(["--dumps", `${dir}/all.jsonl`])
      const acked = new Set<string>()
      let stop = false
      let enough = () => {}
      const reached = new Promise<void>((resolve) => {
        enough = resolve
      })
      const closed: Array<Promise<void>> = []
      const publisher = async (n: number) => {
        const client = await mqtt.connectAsync(url, { clientId: `p${n}`, reconnectPeriod: 0 })
        closed.push(new Promise<void>((resolve) => client.stream.once("close", () => resolve())))
        for (let i = 0; !stop; i++) {
          const payload = `p${n}-${i}`
          const ok = await client.publishAsync("load", payload, { qos: 1 }).then(
            () => true,
            () => false
          )
          if (!ok) return
          acked.add(payload)
          if (acked.size >= 500) enough()
        }
      }
      for (let n = 0; n < 20; n++) void publisher(n).catch(() => undefined)
      // Once 500 publishes were acknowledged (more are in flight), kill.
      await reached
      cli.proc.kill("SIGKILL")
      stop = true
      await cli.exit
      // Acknowledgements still in the clients' sockets count too: read them all before comparing.
      await Promise.all(closed)
      const text = Fs.readFileSync(`${dir}/all.jsonl`, "utf8")
      // A line cut by the kill is no entry; every whole line is.
      const dumped = new Set<string>()
      for (const line of text.split("\n")) {
        let entry: { direction?: string; payload?: { utf8?: string }; packet?: { _tag: string } }
        try {
          entry = JSON.parse(line)
        } catch {
          continue
        }
        if (entry.direction === "in" && entry.packet?._tag === "Publish" && entry.payload?.utf8) {
          dumped.add(entry.payload.utf8)
        }
      }
      const missing = [...acked].filter((payload) => !dumped.has(payload))
      assert.deepStrictEqual(missing, [])
      assert.isAtLeast(acked.size, 500)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("control: offline refuses connections until online; blackhole", async () => {
    const { cli, host, port, url } = await start(["--control", "stdin"])
    const client = await mqtt.connectAsync(url, { clientId: "bh", reconnectPeriod: 0 })
    cli.send(JSON.stringify({ id: 1, cmd: "blackhole", connection: 0 }))
    assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 1, ok: true })
    client.end(true)
    cli.send(JSON.stringify({ id: 2, cmd: "offline" }))
    assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 2, ok: true })
    const refused = await new Promise<boolean>((resolve) => {
      const socket = Net.createConnection({ host, port })
      socket.once("connect", () => {
        socket.destroy()
        resolve(false)
      })
      socket.once("error", () => resolve(true))
    })
    assert.isTrue(refused)
    cli.send(JSON.stringify({ id: 3, cmd: "online" }))
    assert.deepStrictEqual(JSON.parse(await cli.line()), { reply: 3, ok: true })
    const again = await mqtt.connectAsync(url, { clientId: "back", reconnectPeriod: 0 })
    await again.endAsync()
    cli.proc.stdin!.end()
    assert.strictEqual(await cli.exit, 0)
  })

  test("behaviour flags: --idprefix refuses, --max-pkt closes, --max-connect stops", async () => {
    const { cli, url } = await start(["--idprefix", "ok-", "--max-pkt", "2", "--max-connect", "2"])
    const refused = await mqtt.connectAsync(url, { clientId: "nope", reconnectPeriod: 0 }).then(
      () => "connected",
      (error: Error) => error.message
    )
    assert.match(refused, /Identifier rejected/i)
    const client = await mqtt.connectAsync(url, { clientId: "ok-1", reconnectPeriod: 0 })
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()))
    client.publish("t", "second packet closes the connection")
    await closed
    client.end(true)
    assert.strictEqual(await cli.exit, 0)
  })

  test("--config file with flags overriding it; MQTT 5 capability flags", async () => {
    const dir = tempDir()
    const file = Path.join(dir, "mqttest.json")
    Fs.writeFileSync(file, JSON.stringify({ ports: 1, capabilities: { receiveMaximum: 7 } }))
    try {
      const cli = spawnCli(["--config", file, "--ports", "0", "--max-qos", "1", "--events"])
      const { url } = JSON.parse(await cli.line())
      const client = await mqtt.connectAsync(url, { clientId: "v5", protocolVersion: 5, reconnectPeriod: 0 })
      const connack = await nextEvent(cli, ServerEvent.isPacket("PacketSent", "Connack"))
      assert.deepStrictEqual(connack.packet.properties, { receiveMaximum: 7, maximumQoS: 1, topicAliasMaximum: 10 })
      await client.endAsync()
      cli.proc.kill("SIGTERM")
      assert.strictEqual(await cli.exit, 0)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("SIGTERM during traffic: the dump has an entry for every packet of the final stats", async () => {
    const dir = tempDir()
    try {
      const { cli, url } = await start(["--dumps", `${dir}/all.jsonl`, "--events"])
      const client = await mqtt.connectAsync(url, { clientId: "busy", reconnectPeriod: 0 })
      await client.subscribeAsync("load", { qos: 1 })
      for (let i = 0; i < 300; i++) client.publish("load", `m${i}`, { qos: 1 })
      for (let seen = 0; seen < 40; ) {
        await nextEvent(cli, ServerEvent.isPacket("PacketReceived", "Publish"))
        seen++
      }
      cli.proc.kill("SIGTERM")
      const stopped = await nextEvent(cli, ServerEvent.is("ServerStopped"))
      assert.strictEqual(await cli.exit, 0)
      client.end(true)
      const entries = await Effect.runPromise(Stream.runCollect(Dump.read(`${dir}/all.jsonl`)))
      const packets = entries.filter((e) => e._tag === "Packet").length
      assert.isAbove(stopped.stats.packetsIn, 40)
      assert.strictEqual(packets, stopped.stats.packetsIn + stopped.stats.packetsOut)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** MQTT.js connects at `url`; then the CLI stops on SIGTERM with exit code 0. */
const connectsThenStops = async (cli: Cli, url: string, options: mqtt.IClientOptions) => {
  const client = mqtt.connect(url, { reconnectPeriod: 0, ...options })
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve())
    client.once("error", reject)
  })
  await client.endAsync()
  cli.proc.kill("SIGTERM")
  assert.strictEqual(await cli.exit, 0)
}

describe("mqttest CLI over TLS and WebSocket", () => {
  test("--tls-cert and --tls-key add an mqtts:// listener: its URL is in the startup line's urls, MQTT.js connects", async () => {
    const dir = tempDir()
    try {
      const certs = Effect.runSync(Certificates.make())
      const files = Effect.runSync(Certificates.writeFiles(certs.server, dir, "server"))
      const { cli, url, urls } = await start(["--tls-cert", files.cert, "--tls-key", files.key, "--tls-ports", "0"])
      assert.strictEqual(urls[0], url)
      const secure = urls.find((u) => u.startsWith("mqtts://"))
      assert.match(secure ?? "", /^mqtts:\/\/127\.0\.0\.1:\d+$/)
      await connectsThenStops(cli, secure!, { ca: certs.ca.cert, clientId: "tls-cli" })
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("--wss with --tls-cert and --tls-key: a secure WebSocket listener, MQTT.js connects over it", async () => {
    const dir = tempDir()
    try {
      const certs = Effect.runSync(Certificates.make())
      const files = Effect.runSync(Certificates.writeFiles(certs.server, dir, "server"))
      const { cli, urls } = await start([
        "--tls-cert",
        files.cert,
        "--tls-key",
        files.key,
        "--tls-ports",
        "0",
        "--wss",
        "0"
      ])
      const wss = urls.find((u) => u.startsWith("wss://"))
      assert.match(wss ?? "", /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/)
      await connectsThenStops(cli, wss!, { ca: certs.ca.cert, clientId: "wss-cli" })
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("--ws and --ws-path add a WebSocket listener: its URL is in urls, MQTT.js connects over it", async () => {
    const { cli, urls } = await start(["--ws", "0", "--ws-path", "/ws"])
    const ws = urls.find((u) => u.startsWith("ws://"))
    assert.match(ws ?? "", /^ws:\/\/127\.0\.0\.1:\d+\/ws$/)
    await connectsThenStops(cli, ws!, { clientId: "ws-cli" })
  })

  test("--unix adds a Unix domain socket listener: mqtt+unix:// in urls, MQTT.js connects over it", async () => {
    const dir = tempDir()
    try {
      const { cli, urls } = await start(["--unix", `${dir}/mqtt.sock`])
      assert.strictEqual(urls[1], `mqtt+unix://${dir}/mqtt.sock`)
      await connectsThenStops(cli, urls[1]!, { clientId: "unix-cli" })
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("2 for a WebSocket path that is not one, and for --wss without a certificate", async () => {
    const path = spawnCli(["--ports", "0", "--ws", "0", "--ws-path", "mqtt"])
    assert.strictEqual(await path.exit, 2)
    assert.include(path.stderr(), '--ws-path: expected an HTTP path such as "/mqtt"')
    const wss = spawnCli(["--ports", "0", "--wss", "0"])
    assert.strictEqual(await wss.exit, 2)
    assert.include(wss.stderr(), "wss: a secure WebSocket listener needs the certificate and key of tls")
  })

  test("2 for a TLS key file that cannot be read, naming the option", async () => {
    const cli = spawnCli([
      "--ports",
      "0",
      "--tls-cert",
      "/nonexistent/server.crt",
      "--tls-key",
      "/nonexistent/server.key"
    ])
    assert.strictEqual(await cli.exit, 2)
    assert.include(cli.stderr(), "tls.cert: expected PEM text or the path of a PEM file")
  })
})

describe("mqttest CLI exit codes and errors", () => {
  const run = async (args: ReadonlyArray<string>) => {
    const cli = spawnCli(args)
    const code = await cli.exit
    return { code, stderr: cli.stderr() }
  }

  test("a config file's authentication with a bad step is refused, naming what is accepted", async () => {
    const dir = tempDir()
    try {
      Fs.writeFileSync(`${dir}/c.json`, JSON.stringify({ authentication: { TOKEN: { steps: [{ reply: "maybe" }] } } }))
      const { code, stderr } = await run(["--config", `${dir}/c.json`])
      assert.strictEqual(code, 2)
      assert.include(
        stderr,
        'authentication.TOKEN.steps[0].reply: expected "continue" | "success" | "fail", got "maybe"'
      )
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("2 for mqttest timeline on a file that cannot be read, naming it", async () => {
    const { code, stderr } = await run(["timeline", "/nonexistent/run.jsonl"])
    assert.strictEqual(code, 2)
    assert.include(stderr, "/nonexistent/run.jsonl: ENOENT")
  })

  test("2 for mqttest view on a file that cannot be read, or an output that cannot be written, naming it", async () => {
    const unreadable = await run(["view", "/nonexistent/run.jsonl"])
    assert.strictEqual(unreadable.code, 2)
    assert.include(unreadable.stderr, "/nonexistent/run.jsonl: ENOENT")
    const dir = tempDir()
    try {
      Fs.writeFileSync(`${dir}/run.jsonl`, "")
      Fs.writeFileSync(`${dir}/file`, "")
      const unwritable = await run(["view", `${dir}/run.jsonl`, "-o", `${dir}/file/run.html`])
      assert.strictEqual(unwritable.code, 2)
      assert.include(unwritable.stderr, `${dir}/file/run.html: `)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("2 for a bad flag value, naming the flag and what was expected, without a stack trace", async () => {
    const { code, stderr } = await run(["--ack-delay", "abc"])
    assert.strictEqual(code, 2)
    assert.include(stderr, '--ack-delay: expected n[,n…] (whole numbers, one per connection; - = unset), got "abc"')
    assert.notInclude(stderr, "    at ")
  })

  test("2 for a flag value out of its option's range, in the config Schema's words", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["--max-pkt", "3,0"], "--max-pkt: connection 1: expected a value greater than or equal to 1, got 0"],
      [["--receive-maximum", "0"], "--receive-maximum: expected a value between 1 and 65535, got 0"],
      [["--max-qos", "3"], "--max-qos: expected 0 | 1 | 2, got 3"],
      [["--max-packet-size", "1"], "--max-packet-size: expected a value between 2 and 268435460, got 1"],
      [["--connect-timeout", "soon"], '--connect-timeout: expected a whole number, got "soon"'],
      [["--max-keep-alive", "0"], "--max-keep-alive: expected a whole number of seconds from 1 to 65535, got 0"],
      [["--max-keep-alive-mqtt3", "maybe"], '--max-keep-alive-mqtt3: expected "refuse" or "accept"']
    ]
    for (const [args, message] of cases) {
      const { code, stderr } = await run(args)
      assert.strictEqual(code, 2, args.join(" "))
      assert.include(stderr, message)
    }
  })

  test("2 for a port range that ends before it starts", async () => {
    const { code, stderr } = await run(["--ports", "2000-1883"])
    assert.strictEqual(code, 2)
    assert.include(stderr, "ends before it starts")
  })

  test("2 for a config file with an unknown key or a wrong type, naming them", async () => {
    const dir = tempDir()
    try {
      Fs.writeFileSync(`${dir}/a.json`, JSON.stringify({ ackDelya: 5 }))
      Fs.writeFileSync(`${dir}/b.json`, JSON.stringify({ maxPackets: "x" }))
      const unknown = await run(["--config", `${dir}/a.json`])
      assert.strictEqual(unknown.code, 2)
      assert.include(unknown.stderr, "ackDelya")
      const wrong = await run(["--config", `${dir}/b.json`])
      assert.strictEqual(wrong.code, 2)
      assert.include(wrong.stderr, "maxPackets")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("2 for an unknown flag: a short error on stderr naming it, nothing on stdout", async () => {
    const cli = spawnCli(["--ports", "0", "--ack-delai", "5"])
    let stdout = ""
    cli.proc.stdout!.on("data", (chunk) => {
      stdout += chunk
    })
    assert.strictEqual(await cli.exit, 2)
    assert.strictEqual(stdout, "")
    const lines = cli.stderr().trim().split("\n")
    assert.isAtMost(lines.length, 3)
    assert.include(lines[0], "unknown flag --ack-delai (did you mean --ack-delay?)")
    assert.include(cli.stderr(), "mqttest --help")
    const missing = await run(["--max-pkt"])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "--max-pkt")
  })

  test("3 when no port of the range can be bound", async () => {
    const blocker = Net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve()))
    const port = (blocker.address() as Net.AddressInfo).port
    try {
      const { code, stderr } = await run(["--ports", `${port}`])
      assert.strictEqual(code, 3)
      assert.include(stderr, `cannot listen on 127.0.0.1 at port ${port}`)
    } finally {
      blocker.close()
    }
  })

  test("--help documents the flags and exit codes; --version prints the version", async () => {
    const help = spawnCli(["--help"])
    const lines: Array<string> = []
    const done = help.exit
    const reader = (async () => {
      for (;;) lines.push(await help.line())
    })()
    assert.strictEqual(await done, 0)
    void reader
    const text = lines.join("\n")
    for (const flag of ["--ports", "--ack-timeouts", "--dumps", "--max-pkt", "--session-expire", "--control"]) {
      assert.include(text, flag)
    }
    assert.include(text, "EXIT CODES")
    // Everything needed to drive the server without the README.
    for (const command of ["publish", "send", "disconnect", "configure", "reset", "offline", "online", "blackhole"]) {
      assert.include(text, `"cmd":"${command}"`)
    }
    assert.include(text, "dump.schema.json")
    for (const event of ["ConnectionClosed", "FaultInjected", "ServerStopped", "perConnection"])
      assert.include(text, event)
    assert.include(text, "config.schema.json")
    // -v means --log info, not --version; there is no --log-level that does nothing.
    assert.notMatch(text, /--version, -v/)
    assert.notInclude(text, "--log-level")
    assert.include(text, "-v = info")
    const version = spawnCli(["--version"])
    assert.include(await version.line(), "0.1.0")
    assert.strictEqual(await version.exit, 0)
  })
})
