/**
 * @mqttest/behavior: the policy of a test — how the server behaves, per
 * connection, changeable at runtime. No sockets.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Behavior from "./Behavior.js"
/** @since 0.1.0 */
export * as Decision from "./Decision.js"
/** @since 0.1.0 */
export * as Delay from "./Delay.js"
/** @since 0.1.0 */
export * as Fault from "./Fault.js"
/** @since 0.1.0 */
export * as Policy from "./Policy.js"
/** @since 0.1.0 */
export * as ReasonCodes from "./ReasonCodes.js"
