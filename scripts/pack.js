// `npm run pack`: one tarball per package, in packs/ (each package's prepack builds it first).
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const out = Path.join(root, "packs")
Fs.rmSync(out, { recursive: true, force: true })
Fs.mkdirSync(out)
const packages = ["codec", "session", "behavior", "server", "cli"]
const npm = process.env.npm_execpath
const args = ["pack", ...packages.flatMap((p) => ["-w", `packages/${p}`]), "--pack-destination", out]
if (npm?.endsWith(".js")) execFileSync(process.execPath, [npm, ...args], { cwd: root, stdio: "inherit" })
else execFileSync("npm", args, { cwd: root, stdio: "inherit" })
for (const file of Fs.readdirSync(out)) process.stdout.write(`${Path.join("packs", file)}\n`)
