// `npm start`: runs the mqttest CLI once packages/cli exists.

import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"

const cli = new URL("../packages/cli/bin/mqttest.js", import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write(
    "mqttest: the server and its CLI are not built yet; so far this repository holds the codec (packages/codec).\n" +
      "Run `npm test` to run its tests.\n"
  )
  process.exit(1)
}
const result = spawnSync(process.execPath, [cli.pathname, ...process.argv.slice(2)], { stdio: "inherit" })
process.exit(result.status ?? 1)
