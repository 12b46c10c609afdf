/**
 * The entry point of the `mqttest` bundle.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { main } from "./Main.js"

const code = await Effect.runPromise(main(process.argv.slice(2)))
process.exit(code)
