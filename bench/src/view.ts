/**
 * The HTML view's figure: a dump of 10,000+ packets (a real run of the CLI
 * with `--dumps`), drawn by `mqttest view`, then loaded in Debian's headless
 * Chromium (playwright-core). Measured: the time `mqttest view` takes (process
 * start to exit), and the page's own time from navigation start to the end of
 * its first drawing (the `data-ready` mark its script sets).
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { chromium } from "playwright-core"

export interface ViewFigures {
  readonly packets: number
  readonly viewMs: number
  readonly renderMs: number
}

/**
 * `dump` must already hold the run; `bin` is the CLI. Returns undefined (with
 * a note on stderr) when Chromium is not installed.
 */
export const viewFigures = async (bin: string, dump: string): Promise<ViewFigures | undefined> => {
  if (!Fs.existsSync("/usr/bin/chromium")) {
    process.stderr.write("no /usr/bin/chromium (apt-get install chromium): the view figure is left out\n")
    return undefined
  }
  const packets = Fs.readFileSync(dump, "utf8")
    .split("\n")
    .filter((line) => line.startsWith('{"_tag":"Packet"')).length
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-bench-view-"))
  try {
    const html = Path.join(dir, "run.html")
    const t0 = performance.now()
    ChildProcess.execFileSync(process.execPath, [bin, "view", dump, "-o", html], { stdio: "ignore" })
    const viewMs = performance.now() - t0
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
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
      await page.goto(`file://${html}`)
      const ready = await page.waitForSelector("body[data-ready]")
      const renderMs = Number(await ready.getAttribute("data-ready"))
      return { packets, viewMs, renderMs }
    } finally {
      await browser.close()
    }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}
