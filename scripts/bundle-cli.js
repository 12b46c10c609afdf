// Bundles the mqttest CLI into one file (packages/cli/dist/mqttest.mjs), straight from the
// TypeScript sources. Run by `prepare`, so `npm ci` leaves a working node_modules/.bin/mqttest.
import { build } from "esbuild"

const root = new URL("..", import.meta.url).pathname
await build({
  entryPoints: [`${root}packages/cli/src/bin.ts`],
  outfile: `${root}packages/cli/dist/mqttest.mjs`,
  bundle: true,
  platform: "node",
  target: "node22",
  format: "esm",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  alias: {
    "@mqttest/codec": `${root}packages/codec/src/index.ts`,
    "@mqttest/session": `${root}packages/session/src/index.ts`,
    "@mqttest/behavior": `${root}packages/behavior/src/index.ts`,
    "@mqttest/server": `${root}packages/server/src/index.ts`
  },
  // Node's own modules stay imports; a CommonJS dependency (ws) needs `require` in ESM.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
})
