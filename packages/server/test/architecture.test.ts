/**
 * The architecture's rules, checked on the sources of every package:
 * dependency arrows point down (codec ← session/behavior ← server ← cli), no
 * import cycles inside a package (type-only imports included), no module
 * over 400 lines.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"

const root = Path.resolve(import.meta.dirname, "../../..")

/** What each package may import from the others. */
const allowed: Record<string, ReadonlyArray<string>> = {
  codec: [],
  session: ["codec"],
  behavior: ["codec", "session"],
  server: ["codec", "session", "behavior"],
  cli: ["codec", "session", "behavior", "server"]
}

const sourcesOf = (pkg: string): Array<string> => {
  const dir = Path.join(root, "packages", pkg, "src")
  return (Fs.readdirSync(dir, { recursive: true }) as Array<string>)
    .filter((file) => file.endsWith(".ts"))
    .map((file) => Path.join(dir, file))
}

/** Every module specifier a file imports or re-exports (`import type` included). */
const importsOf = (file: string): Array<string> => {
  const text = Fs.readFileSync(file, "utf8")
  const out: Array<string> = []
  for (const match of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"/gms)) out.push(match[1]!)
  return out
}

describe("architecture", () => {
  for (const pkg of Object.keys(allowed)) {
    it(`${pkg}: imports only the packages below it`, () => {
      const wrong: Array<string> = []
      for (const file of sourcesOf(pkg)) {
        for (const spec of importsOf(file)) {
          const match = /^@mqttest\/([a-z]+)/.exec(spec)
          if (match !== null && !allowed[pkg]!.includes(match[1]!)) {
            wrong.push(`${Path.relative(root, file)} imports ${spec}`)
          }
        }
      }
      assert.deepStrictEqual(wrong, [])
    })

    it(`${pkg}: no import cycles between its modules`, () => {
      const files = sourcesOf(pkg)
      const edges = new Map<string, Array<string>>()
      for (const file of files) {
        edges.set(
          file,
          importsOf(file)
            .filter((spec) => spec.startsWith("."))
            .map((spec) => Path.resolve(Path.dirname(file), spec.replace(/\.js$/, ".ts")))
        )
      }
      const cycles: Array<string> = []
      const state = new Map<string, "visiting" | "done">()
      const visit = (file: string, path: Array<string>) => {
        if (state.get(file) === "done") return
        if (state.get(file) === "visiting") {
          const cycle = path.slice(path.indexOf(file)).concat(file)
          cycles.push(cycle.map((f) => Path.relative(root, f)).join(" → "))
          return
        }
        state.set(file, "visiting")
        for (const next of edges.get(file) ?? []) visit(next, [...path, file])
        state.set(file, "done")
      }
      for (const file of files) visit(file, [])
      assert.deepStrictEqual(cycles, [])
    })

    it(`${pkg}: no module over 400 lines`, () => {
      const long = sourcesOf(pkg)
        .map((file) => [Path.relative(root, file), Fs.readFileSync(file, "utf8").split("\n").length] as const)
        .filter(([, lines]) => lines > 400)
      assert.deepStrictEqual(long, [])
    })
  }
})
