// `prepack` of every package (run by `npm pack` / `npm publish` in the package's folder): builds
// what the tarball carries and copies the repository's LICENSE next to it.
//   libraries: tsc -b tsconfig.src.json (dist/ with .js, .d.ts and maps)
//   mqttest (the CLI): the single-file bundle dist/mqttest.mjs (scripts/bundle-cli.js)
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const pkg = process.cwd()
const { name } = JSON.parse(Fs.readFileSync(Path.join(pkg, "package.json"), "utf8"))
Fs.copyFileSync(Path.join(root, "LICENSE"), Path.join(pkg, "LICENSE"))
if (name === "mqttest") {
  execFileSync(process.execPath, [Path.join(root, "scripts/bundle-cli.js")], { stdio: "inherit" })
} else {
  const tsc = Path.join(root, "node_modules/typescript/bin/tsc")
  execFileSync(process.execPath, [tsc, "-b", "tsconfig.src.json"], { cwd: pkg, stdio: "inherit" })
}
