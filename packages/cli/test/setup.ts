// Rebuilds the CLI bundle from the sources before the CLI tests spawn it.
import { execFileSync } from "node:child_process"

export default function setup() {
  execFileSync(process.execPath, [new URL("../../../scripts/bundle-cli.js", import.meta.url).pathname], {
    stdio: "inherit"
  })
}
