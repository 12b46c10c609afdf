// Writes packages/server/dump.schema.json, the JSON Schema of one dump line, from the Schema
// (run after `npm run build`; `npm test` checks that the shipped file is up to date).

import * as Fs from "node:fs"
import { Dump } from "@mqttest/server"

const target = new URL("../packages/server/dump.schema.json", import.meta.url)
Fs.writeFileSync(target, `${JSON.stringify(Dump.jsonSchema(), null, 2)}\n`)
process.stderr.write(`wrote ${target.pathname}\n`)
