// Writes the JSON Schemas (draft 2020-12) that @mqttest/server ships, from the Schemas:
// packages/server/dump.schema.json (one dump line) and config.schema.json (a --config file).
// Run after `npm run build`; `npm test` checks that the shipped files are up to date.

import * as Fs from "node:fs"
import { Config, Dump } from "@mqttest/server"

for (const [name, schema] of [
  ["dump.schema.json", Dump.jsonSchema()],
  ["config.schema.json", Config.jsonSchema()]
]) {
  const target = new URL(`../packages/server/${name}`, import.meta.url)
  Fs.writeFileSync(target, `${JSON.stringify(schema, null, 2)}\n`)
  process.stderr.write(`wrote ${target.pathname}\n`)
}
