/**
 * mqttest: the command line, and the library re-exported for one-package installs.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * from "@mqttest/server"
/** @since 0.1.0 */
export * as Control from "./Control.js"
/** @since 0.1.0 */
export * as Flags from "./Flags.js"
/** @since 0.1.0 */
export * as Main from "./Main.js"
