/**
 * The HTML view of a run, checked in a real headless browser (Debian's
 * chromium driven by playwright-core): the arrows of a known dump in order,
 * the fault marked on the arrow it affected, the filters, the packet shown on
 * a click, client text kept as text, a 10,000-packet dump drawn a screenful
 * at a time; and the helpers that write a failed test's traffic.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Certificates, Dump, MqttServer, start, View } from "@mqttest/server"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import mqtt from "mqtt"
import { open } from "./browser.js"
import { call, connectAt, connectClient } from "./helpers.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-view-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Made once, before the tests (key generation takes a while). */
const certs = Effect.runSync(Certificates.make())

/** A client id that would be markup and script if the page wrote it as HTML. */
const hostile = `</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">`

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/**
 * A run dumped to `dir/run.jsonl`: a dashboard subscribed to home/#, a
 * sensor whose PUBACKs the server delays by 30 ms (a fault), and a client with
 * a hostile id.
 */
const run = (dir: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* MqttServer.make({
        ports: 0,
        dumps: [`${dir}/run.jsonl`],
        rules: [{ clientId: "sensor-1", ackDelay: 30 }]
      })
      const dashboard = yield* connectClient(server, { clientId: "dashboard", protocolVersion: 5 })
      yield* call((cb) => dashboard.subscribe("home/#", { qos: 1 }, cb))
      const sensor = yield* connectClient(server, { clientId: "sensor-1", protocolVersion: 5 })
      yield* call((cb) => sensor.publish("home/kitchen/temp", '{"celsius":21.5}', { qos: 1 }, cb))
      const other = yield* connectClient(server, { clientId: hostile })
      yield* call((cb) => other.publish("home/door", "open", { qos: 1 }, cb))
      yield* server.stop
    })
  )

const packetsOf = (file: string) =>
  Effect.map(Stream.runCollect(Dump.read(file)), (entries) =>
    entries.flatMap((entry) => (entry._tag === "Packet" ? [entry] : []))
  )

/** The rows drawn now: index, connection, time, and the arrow's type and direction. */
const drawnRows = (page: import("playwright-core").Page) =>
  page.$$eval(".row", (rows) =>
    rows.map((row) => {
      const arrow = row.querySelector(".arrow")
      return {
        index: Number(row.getAttribute("data-index")),
        c: row.getAttribute("data-c"),
        t: Number(row.getAttribute("data-t")),
        arrow:
          arrow === null
            ? undefined
            : `${arrow.classList.contains("in") ? "in" : "out"} ${arrow.getAttribute("data-type")}`
      }
    })
  )

/** The run's dump, its packets, and its page open in Chromium (tall enough for every row to be drawn). */
const runShown = Effect.gen(function* () {
  const dir = yield* tempDir
  yield* run(dir)
  yield* View.fromDump(`${dir}/run.jsonl`, `${dir}/run.html`)
  const packets = yield* packetsOf(`${dir}/run.jsonl`)
  const { page, errors } = yield* open(`${dir}/run.html`, { width: 1400, height: 4000 })
  return { packets, page, errors }
})

describe("View", () => {
  it.live("the page stands alone: no external resources, the run's data inside, client text never markup", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* run(dir)
      yield* View.fromDump(`${dir}/run.jsonl`, `${dir}/run.html`)
      const html = Fs.readFileSync(`${dir}/run.html`, "utf8")
      // The markup and code (the run's data aside): nothing that loads anything.
      const page = html.replace(/(<script type="application\/json" id="mqttest-data">).*?(<\/script>)/s, "$1$2")
      assert.notMatch(page, /\b(src|href)\s*=|url\(|@import|https?:\/\//i)
      assert.include(html, `content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"`)
      assert.notInclude(html, hostile)
      assert.include(html, "\\u003c/script>\\u003cscript>window.pwned=1")
      assert.include(html, "<title>run.jsonl</title>")
    })
  )

  it.live("a dump's decoded payloads (dumpDecode) are shown with their packets", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          const server = yield* MqttServer.make({ ports: 0, dumps: [`${dir}/run.jsonl`], dumpDecode: "hex" })
          const client = yield* connectClient(server, { clientId: "decoded" })
          yield* call((cb) => client.publish("t", "AB", { qos: 1 }, cb))
          yield* server.stop
        })
      )
      yield* View.fromDump(`${dir}/run.jsonl`, `${dir}/run.html`)
      const html = Fs.readFileSync(`${dir}/run.html`, "utf8")
      const data = /<script type="application\/json" id="mqttest-data">(.*?)<\/script>/s.exec(html)![1]!
      const model = JSON.parse(data) as { items: Array<{ p?: string; d: Record<string, unknown> }> }
      const publish = model.items.find((item) => item.p === "PUBLISH")!
      assert.strictEqual(publish.d.decoded, "4142")
      assert.deepStrictEqual((publish.d.packet as { payload: unknown }).payload, { bytes: 2, utf8: "AB" })
    })
  )

  it.live("in Chromium: every packet an arrow in order, the fault on the arrow it delayed, the packet on a click", () =>
    Effect.gen(function* () {
      const { packets, page, errors } = yield* runShown
      const rows = yield* promise(() => drawnRows(page))
      assert.deepStrictEqual(
        rows.flatMap((row) => (row.arrow === undefined ? [] : [row.arrow])),
        packets.map((entry) => `${entry.direction} ${entry.packet._tag.toUpperCase()}`)
      )
      // The sensor's PUBACK was delayed: its arrow is marked, with the fault's text.
      const sensor = packets.find((entry) => entry.clientId === "sensor-1")!.connection
      const marked = yield* promise(() =>
        page.$$eval(".arrow.marked", (arrows) =>
          arrows.map((a) => ({ type: a.getAttribute("data-type"), title: a.getAttribute("title") ?? "" }))
        )
      )
      assert.deepStrictEqual(
        marked.map((a) => a.type),
        ["PUBACK"]
      )
      assert.match(marked[0]!.title, /⚡ ackDelay: PUBACK delayed by 30 ms/)
      const markedRow = yield* promise(() => page.locator(".row:has(.arrow.marked)").getAttribute("data-c"))
      assert.strictEqual(markedRow, String(sensor))
      // A lifeline per connection, labelled by number and client id; the hostile id as text.
      const heads = yield* promise(() => page.$$eval(".head", (hs) => hs.map((h) => h.textContent)))
      assert.deepStrictEqual(heads, ["server", "c0 dashboard", "c1 sensor-1", `c2 ${hostile}`])
      assert.isUndefined(yield* promise(() => page.evaluate(() => (window as { pwned?: number }).pwned)))
      // A click on the sensor's PUBLISH shows the whole packet, payload as text.
      yield* promise(() => page.locator(`.row[data-c="${sensor}"] .arrow[data-type="PUBLISH"]`).click())
      assert.isTrue(yield* promise(() => page.locator("#detail").isVisible()))
      const detail = yield* promise(() => page.locator("#detail-body").textContent())
      const shown = JSON.parse(detail ?? "null")
      assert.strictEqual(shown._tag, "PacketReceived")
      assert.strictEqual(shown.clientId, "sensor-1")
      assert.strictEqual(shown.packet.topic, "home/kitchen/temp")
      assert.strictEqual(shown.packet.qos, 1)
      assert.deepStrictEqual(shown.packet.payload, { bytes: 16, utf8: '{"celsius":21.5}' })
      assert.match(shown.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
      assert.deepStrictEqual(errors, [])
    })
  )

  it.live("in Chromium: filters by connection, client id, packet type and time window; a real time axis", () =>
    Effect.gen(function* () {
      const { packets, page, errors } = yield* runShown
      const all = yield* promise(() => drawnRows(page))
      const count = () => promise(() => page.locator("#count").textContent())
      assert.strictEqual(yield* count(), `${all.length} of ${all.length} rows`)
      const sensor = String(packets.find((entry) => entry.clientId === "sensor-1")!.connection)

      yield* promise(() => page.selectOption("#f-conn", sensor))
      const byConnection = yield* promise(() => drawnRows(page))
      assert.isAbove(byConnection.length, 4)
      assert.isTrue(byConnection.every((row) => row.c === sensor))
      assert.deepStrictEqual(yield* promise(() => page.$$eval(".head", (hs) => hs.map((h) => h.textContent))), [
        "server",
        "c1 sensor-1"
      ])
      yield* promise(() => page.selectOption("#f-conn", []))

      yield* promise(() => page.fill("#f-client", "SENSOR"))
      assert.deepStrictEqual(yield* promise(() => drawnRows(page)), byConnection)
      yield* promise(() => page.fill("#f-client", ""))

      yield* promise(() => page.locator('#f-types input[data-type="PUBLISH"]').uncheck())
      const withoutPublish = yield* promise(() => drawnRows(page))
      const publishes = packets.filter((entry) => entry.packet._tag === "Publish").length
      assert.strictEqual(withoutPublish.length, all.length - publishes)
      assert.isTrue(withoutPublish.every((row) => row.arrow === undefined || !row.arrow.endsWith(" PUBLISH")))
      yield* promise(() => page.locator('#f-types input[data-type="PUBLISH"]').check())

      // A time window: only rows within it.
      const middle = all[Math.floor(all.length / 2)]!.t
      yield* promise(() => page.fill("#f-from", String(middle)))
      const fromMiddle = yield* promise(() => drawnRows(page))
      assert.deepStrictEqual(
        fromMiddle.map((row) => row.index),
        all.filter((row) => row.t >= middle).map((row) => row.index)
      )
      yield* promise(() => page.fill("#f-to", String(middle)))
      assert.isTrue((yield* promise(() => drawnRows(page))).every((row) => row.t === middle))
      yield* promise(() => page.fill("#f-from", ""))
      yield* promise(() => page.fill("#f-to", ""))

      // The 30 ms the server held the sensor's PUBACK back: on a real axis at 10 px/ms, at least 300 px.
      const gapOfPuback = () =>
        promise(() =>
          page.evaluate((c) => {
            const rows = [...document.querySelectorAll<HTMLElement>(`.row[data-c="${c}"]`)]
            const top = (type: string) =>
              Number.parseFloat(rows.find((r) => r.querySelector(`.arrow[data-type="${type}"]`))!.style.top)
            return top("PUBACK") - top("PUBLISH")
          }, sensor)
        )
      assert.isBelow(yield* gapOfPuback(), 200)
      yield* promise(() => page.selectOption("#f-axis", "real"))
      yield* promise(() => page.fill("#f-scale", "10"))
      assert.isAtLeast(yield* gapOfPuback(), 300)
      assert.deepStrictEqual(errors, [])
    })
  )

  it.live(
    "in Chromium: dumps of every transport and protocol level (TCP, TLS, ws, wss, Unix, memory; 3.1, 3.1.1, 5)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* MqttServer.make({
              ports: 0,
              dumps: [`${dir}/network.jsonl`],
              tls: { cert: certs.server.cert, key: certs.server.key, ports: 0 },
              ws: { ports: 0 },
              wss: { ports: 0 },
              unix: `${dir}/mqtt.sock`
            })
            const url = (scheme: string) => server.urls.find((u) => u.startsWith(`${scheme}://`))!
            const clients = [
              yield* connectAt(url("mqtt"), { clientId: "tcp-5", protocolVersion: 5 }),
              yield* connectAt(url("mqtts"), { clientId: "tls-311", protocolVersion: 4, ca: certs.ca.cert }),
              yield* connectAt(url("ws"), { clientId: "ws-31", protocolVersion: 3, protocolId: "MQIsdp" }),
              yield* connectAt(url("wss"), { clientId: "wss-5", protocolVersion: 5, ca: certs.ca.cert }),
              yield* connectAt(url("mqtt+unix"), { clientId: "unix-311", protocolVersion: 4 })
            ]
            for (const client of clients) yield* call((cb) => client.publish("t", "x", { qos: 1 }, cb))
            yield* server.stop
          })
        )
        yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* MqttServer.make({ transport: "memory", dumps: [`${dir}/memory.jsonl`] })
            const client = yield* connectClient(server, { clientId: "memory-311" })
            yield* call((cb) => client.publish("t", "x", { qos: 1 }, cb))
            yield* server.stop
          })
        )
        for (const [name, transports] of [
          ["network", ["tcp", "tls", "ws", "wss", "unix"]],
          ["memory", ["memory"]]
        ] as const) {
          yield* View.fromDump(`${dir}/${name}.jsonl`, `${dir}/${name}.html`)
          const packets = yield* packetsOf(`${dir}/${name}.jsonl`)
          const { page, errors } = yield* open(`${dir}/${name}.html`, { width: 1400, height: 4000 })
          const rows = yield* promise(() => drawnRows(page))
          assert.deepStrictEqual(
            rows.flatMap((row) => (row.arrow === undefined ? [] : [row.arrow])),
            packets.map((entry) => `${entry.direction} ${entry.packet._tag.toUpperCase()}`),
            name
          )
          const opened = yield* promise(() =>
            page.$$eval(".note.open", (notes) => notes.map((n) => /\((\w+)\)$/.exec(n.textContent ?? "")?.[1] ?? "tcp"))
          )
          assert.deepStrictEqual(opened, [...transports], name)
          const levels = packets.flatMap((entry) =>
            entry.packet._tag === "Connect" ? [entry.packet.protocolLevel] : []
          )
          assert.deepStrictEqual(levels, name === "network" ? [5, 4, 3, 5, 4] : [4])
          assert.deepStrictEqual(errors, [])
        }
      })
  )

  it.live(
    "in Chromium: 10,000 packets drawn a screenful at a time, the last one reached by scrolling",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* MqttServer.make({ ports: 0, dumps: [`${dir}/run.jsonl`] })
            const client = yield* connectClient(server, { clientId: "flood" })
            yield* call((cb) => client.subscribe("flood", { qos: 1 }, cb))
            // QoS 1 both ways: four packets a message, none dropped; 100 at a time (no queue fills up).
            const received = Effect.callback<void>((resume) => {
              let count = 0
              client.on("message", () => {
                if (++count === 2600) resume(Effect.void)
              })
            })
            const all = yield* Effect.forkChild(received)
            for (let batch = 0; batch < 26; batch++) {
              yield* Effect.promise(() =>
                Promise.all(
                  Array.from({ length: 100 }, (_, i) =>
                    client.publishAsync("flood", String(batch * 100 + i), { qos: 1 })
                  )
                )
              )
            }
            yield* Fiber.join(all)
            yield* server.stop
          })
        )
        yield* View.fromDump(`${dir}/run.jsonl`, `${dir}/run.html`)
        const { page, errors } = yield* open(`${dir}/run.html`)
        const total = Number((yield* promise(() => page.locator("#count").textContent()))!.split(" ")[0])
        assert.isAtLeast(total, 10_000)
        const drawn = yield* promise(() => drawnRows(page))
        assert.isBelow(drawn.length, 100)
        yield* promise(() => page.locator("#diagram").evaluate((d) => d.scrollTo(0, d.scrollHeight)))
        yield* promise(() => page.waitForSelector(`.row[data-index="${total - 1}"]`, { timeout: 5000 }))
        assert.isBelow((yield* promise(() => drawnRows(page))).length, 100)
        assert.deepStrictEqual(errors, [])
      }),
    60_000
  )

  it.live("onFailure writes the server's recent events when the test fails, and nothing when it passes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const failing = Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        const client = yield* connectClient(server, { clientId: "failing-test" })
        yield* call((cb) => client.publish("t", "x", { qos: 1 }, cb))
        return yield* Effect.fail("the assertion failed")
      })
      const passing = Effect.gen(function* () {
        const server = yield* MqttServer.MqttServer
        yield* connectClient(server, { clientId: "passing-test" })
      })
      const within = <A, E>(test: Effect.Effect<A, E, MqttServer.MqttServer | import("effect/Scope").Scope>) =>
        Effect.scoped(Effect.provide(test, MqttServer.layer({ ports: 0 })))
      const error = yield* Effect.flip(within(failing.pipe(View.onFailure(`${dir}/failed/test.html`))))
      assert.strictEqual(error, "the assertion failed")
      const html = Fs.readFileSync(`${dir}/failed/test.html`, "utf8")
      assert.include(html, '"id":"failing-test"')
      assert.include(html, '"p":"PUBACK"')
      yield* within(passing.pipe(View.onFailure(`${dir}/passed/test.html`)))
      assert.isFalse(Fs.existsSync(`${dir}/passed`))
    })
  )

  it.live("with vitest's onTestFailed: a failing test (run in a vitest of its own) leaves its page behind", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const root = Path.resolve(import.meta.dirname, "../../..")
      const run = ChildProcess.spawnSync(
        process.execPath,
        [
          Path.join(root, "node_modules/vitest/vitest.mjs"),
          "run",
          "--config",
          Path.join(import.meta.dirname, "fixtures/vitest.config.ts")
        ],
        { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } }
      )
      assert.strictEqual(run.status, 1, `the fixture's test should fail:\n${run.stdout}\n${run.stderr}`)
      // (Not the assertion's message: on Node 20 vitest 5's reporter cannot print failures.)
      assert.include(run.stdout + run.stderr, "× the daily report is acknowledged")
      const html = Fs.readFileSync(Path.join(dir, "view/the-daily-report-is-acknowledged.html"), "utf8")
      assert.include(html, '"id":"reporter"')
      assert.include(html, '"utf8":"late"')
    })
  )

  it.live("the Promise API's writeView: the recent events as a page, also after the server stopped", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const server = yield* promise(() => start({ ports: 0 }))
      const client = yield* promise(() => mqtt.connectAsync(server.url, { clientId: "promised", reconnectPeriod: 0 }))
      yield* promise(() => client.publishAsync("t", "x", { qos: 1 }))
      yield* promise(() => client.endAsync())
      yield* promise(() => server.stop())
      yield* promise(() => server.writeView(`${dir}/after-stop.html`, { title: "a failed test" }))
      const html = Fs.readFileSync(`${dir}/after-stop.html`, "utf8")
      assert.include(html, "<title>a failed test</title>")
      assert.include(html, '"id":"promised"')
      assert.include(html, '"p":"DISCONNECT"')
    })
  )
})
