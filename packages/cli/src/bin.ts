/**
 * The entry point of the `mqttest` bundle.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { main } from "./Main.js"

const code = await Effect.runPromise(main(process.argv.slice(2)))
// Let everything written to stdout and stderr reach the pipes before exiting.
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()))
await new Promise<void>((resolve) => process.stderr.write("", () => resolve()))
process.exit(code)
