/**
 * The one list of test projects: one per package. `vitest.config.ts` imports it,
 * so `npm test` runs each package as its own project.
 */
import { fileURLToPath } from "node:url"
import type { TestProjectConfiguration } from "vitest/config"

const root = fileURLToPath(new URL(".", import.meta.url))

/** Tests import sibling packages from their sources, so no build is needed first. */
const alias = [{ find: /^@mqttest\/([a-z-]+)$/, replacement: `${root}packages/$1/src/index.ts` }]

const project = (
  name: string,
  extra: {
    readonly globalSetup?: string
    readonly dir?: string
    readonly include?: string
    readonly root?: string
  } = {}
): TestProjectConfiguration => ({
  resolve: { alias },
  test: {
    name,
    root: extra.root ?? `${root}packages/${extra.dir ?? name}`,
    include: [extra.include ?? "test/**/*.test.ts"],
    ...(extra.globalSetup !== undefined ? { globalSetup: [extra.globalSetup] } : {})
  }
})

export const projects: Array<TestProjectConfiguration> = [
  project("codec"),
  project("session"),
  project("behavior"),
  project("server"),
  // The CLI tests spawn the real bundle: rebuild it from the sources first.
  project("cli", { globalSetup: `${root}packages/cli/test/setup.ts` }),
  // Documented bugs of real clients, each buggy release next to its fixed one.
  project("gallery", { root: `${root}gallery`, include: "entries/*.test.ts" }),
  // `npm run soak` only (MQTTEST_SOAK=1): not part of `npm test`.
  ...(process.env.MQTTEST_SOAK === "1" ? [project("soak", { dir: "server", include: "soak/**/*.test.ts" })] : [])
]
