/**
 * The README's examples are these test files, word for word.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, test } from "vitest"

const root = Path.resolve(import.meta.dirname, "../../..")
const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")

describe("README", () => {
  const marker = /<!-- example: (\S+) -->\s*```ts\n([\s\S]*?)```/g
  const examples = [...readme.matchAll(marker)]

  test("shows the Effect and the Promise example", () => {
    assert.includeMembers(
      examples.map((m) => m[1]),
      ["packages/server/test/examples/effect.test.ts", "packages/server/test/examples/promise.test.ts"]
    )
  })

  for (const [, file, code] of examples) {
    test(`example ${file} is the tested file`, () => {
      assert.strictEqual(code, Fs.readFileSync(Path.join(root, file!), "utf8"))
    })
  }
})
