// `npm run bench`: bundles the benchmark (bench/src) and the aedes peer, then runs it.
import { execFileSync } from "node:child_process"
import { build } from "esbuild"

const root = new URL("..", import.meta.url).pathname
const common = {
  bundle: true,
  platform: "node",
  target: "node22",
  format: "esm",
  logLevel: "warning",
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  alias: {
    "@mqttest/codec": `${root}packages/codec/src/index.ts`,
    "@mqttest/session": `${root}packages/session/src/index.ts`,
    "@mqttest/behavior": `${root}packages/behavior/src/index.ts`,
    "@mqttest/server": `${root}packages/server/src/index.ts`
  }
}
await build({
  ...common,
  entryPoints: [`${root}bench/src/main.ts`],
  outfile: `${root}bench/dist/main.mjs`,
  external: ["aedes", "bufferutil", "utf-8-validate", "playwright-core"]
})
await build({
  ...common,
  entryPoints: [`${root}bench/src/aedes-server.ts`],
  outfile: `${root}bench/dist/aedes-server.mjs`,
  external: ["aedes", "bufferutil", "utf-8-validate"]
})
execFileSync(process.execPath, [`${root}bench/dist/main.mjs`], { stdio: "inherit", cwd: `${root}bench` })
