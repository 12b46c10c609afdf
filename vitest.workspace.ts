/**
 * The one list of test projects: one per package. `vitest.config.ts` imports it,
 * so `npm test` runs each package as its own project.
 */
import { fileURLToPath } from "node:url"
import type { TestProjectConfiguration } from "vitest/config"

const root = fileURLToPath(new URL(".", import.meta.url))

/** Tests import sibling packages from their sources, so no build is needed first. */
const alias = [{ find: /^@mqttest\/([a-z-]+)$/, replacement: `${root}packages/$1/src/index.ts` }]

const project = (name: string): TestProjectConfiguration => ({
  resolve: { alias },
  test: {
    name,
    root: `${root}packages/${name}`,
    include: ["test/**/*.test.ts"]
  }
})

export const projects: Array<TestProjectConfiguration> = [
  project("codec"),
  project("session"),
  project("behavior"),
  project("server")
]
