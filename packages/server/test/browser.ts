/**
 * Debian's Chromium (installed by .ci/run: `apt-get install chromium`),
 * driven headless by playwright-core, for the tests of the HTML view.
 */
import * as Fs from "node:fs"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type Browser, chromium, type Page } from "playwright-core"

export const chromiumPath = "/usr/bin/chromium"

/** The flags a closed network needs: no background connections, no sandbox as root. */
export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** A headless Chromium, closed with the scope. */
export const browser: Effect.Effect<Browser, Error, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => {
      if (!Fs.existsSync(chromiumPath)) {
        throw new Error(
          `${chromiumPath} is missing: the HTML view's tests need Debian's chromium (apt-get install chromium)`
        )
      }
      return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })
    },
    catch: (error) => (error instanceof Error ? error : new Error(String(error)))
  }),
  (browser) => Effect.promise(() => browser.close())
)

/**
 * A page showing an HTML file, once its script has drawn the diagram; page
 * errors fail the test (collected in `errors`).
 */
export const open = (
  file: string,
  viewport = { width: 1280, height: 720 }
): Effect.Effect<{ readonly page: Page; readonly errors: Array<string> }, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const b = yield* browser
    const page = yield* Effect.promise(() => b.newPage({ viewport }))
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    // The page must not reach the network: any request but the file itself is recorded.
    page.on("request", (request) => {
      if (!request.url().startsWith("file://")) errors.push(`request to ${request.url()}`)
    })
    yield* Effect.promise(() => page.goto(`file://${file}`))
    yield* Effect.promise(() => page.waitForSelector("body[data-ready]", { timeout: 10_000 }))
    return { page, errors }
  })
