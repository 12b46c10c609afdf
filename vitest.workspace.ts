/**
 * The one list of test projects: one per package. `vitest.config.ts` imports it,
 * so `npm test` runs each package as its own project.
 */
import { fileURLToPath } from "node:url"
import type { TestProjectConfiguration } from "vitest/config"

const root = fileURLToPath(new URL(".", import.meta.url))

/** Tests import sibling packages from their sources, so no build is needed first. */
const alias = [{ find: /^@mqttest\/([a-z-]+)$/, replacement: `${root}packages/$1/src/index.ts` }]

const project = (name: string, extra: { readonly globalSetup?: string } = {}): TestProjectConfiguration => ({
  resolve: { alias },
  test: {
    name,
    root: `${root}packages/${name}`,
    include: ["test/**/*.test.ts"],
    ...(extra.globalSetup !== undefined ? { globalSetup: [extra.globalSetup] } : {})
  }
})

export const projects: Array<TestProjectConfiguration> = [
  project("codec"),
  project("session"),
  project("behavior"),
  project("server"),
  // The CLI tests spawn the real bundle: rebuild it from the sources first.
  project("cli", { globalSetup: `${root}packages/cli/test/setup.ts` })
]
