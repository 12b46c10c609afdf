#!/usr/bin/env node
// The mqttest command: runs the single-file bundle that `npm ci` / `npm install` builds
// (the repository's `prepare` script, scripts/bundle-cli.js).
import { existsSync } from "node:fs"
import * as Module from "node:module"

// Reuse V8's compiled code between runs (Node 22.1+): most of a cold start is compiling the bundle.
Module.enableCompileCache?.()

const bundle = new URL("../dist/mqttest.mjs", import.meta.url)
if (!existsSync(bundle)) {
  process.stderr.write(
    "mqttest: the CLI bundle is missing; run `npm install` (or `node scripts/bundle-cli.js`) at the repository root\n"
  )
  process.exit(1)
}
await import(bundle.href)
