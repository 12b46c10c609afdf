// Makes docs/view.png, the README's picture of `mqttest view`: a short run of the built CLI
// (a dashboard, a sensor whose PUBACKs are delayed, a client whose publish is refused), its dump
// drawn by `mqttest view`, and a screenshot of the page in Debian's chromium with a packet opened.
// Run: node scripts/bundle-cli.js && node scripts/view-screenshot.js
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import mqtt from "mqtt"
import { chromium } from "playwright-core"

const root = Path.resolve(import.meta.dirname, "..")
const bin = Path.join(root, "packages/cli/bin/mqttest.js")
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-screenshot-"))
const config = {
  dumps: [`${dir}/run.jsonl`],
  rules: [{ clientId: "sensor-1", ackDelay: 40 }],
  refusePublish: { topics: ["admin/#"] }
}
Fs.writeFileSync(`${dir}/config.json`, JSON.stringify(config))
const server = ChildProcess.spawn(process.execPath, [bin, "-p", "0", "--config", `${dir}/config.json`], {
  stdio: ["ignore", "pipe", "inherit"]
})
const startup = await Readline.createInterface({ input: server.stdout })[Symbol.asyncIterator]().next()
const url = `mqtt://127.0.0.1:${JSON.parse(startup.value).port}`

const dashboard = await mqtt.connectAsync(url, { clientId: "dashboard", protocolVersion: 5 })
await dashboard.subscribeAsync("home/#", { qos: 1 })
const sensor = await mqtt.connectAsync(url, { clientId: "sensor-1", protocolVersion: 5 })
for (const celsius of [21.5, 21.7]) {
  await sensor.publishAsync("home/kitchen/temp", JSON.stringify({ celsius }), { qos: 1 })
}
const legacy = await mqtt.connectAsync(url, { clientId: "legacy-panel", protocolVersion: 4 })
await legacy.publishAsync("admin/reboot", "now", { qos: 1 })
await legacy.publishAsync("home/door", "open", { qos: 1, retain: true })
for (const client of [sensor, legacy, dashboard]) await client.endAsync()
server.kill("SIGTERM")
await new Promise((resolve) => server.once("exit", resolve))

ChildProcess.execFileSync(process.execPath, [bin, "view", `${dir}/run.jsonl`, "-o", `${dir}/run.html`])
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run"
  ]
})
const page = await browser.newPage({ viewport: { width: 1400, height: 820 } })
await page.goto(`file://${dir}/run.html`)
await page.waitForSelector("body[data-ready]")
await page.locator('.arrow.marked[data-type="PUBACK"]').first().click()
await page.screenshot({ path: Path.join(root, "docs/view.png") })
await browser.close()
Fs.rmSync(dir, { recursive: true, force: true })
console.log("docs/view.png")
