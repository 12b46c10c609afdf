/**
 * @mqttest/session: broker state as data, with no sockets.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Message from "./Message.js"
/** @since 0.1.0 */
export * as PacketId from "./PacketId.js"
/** @since 0.1.0 */
export * as RetainedStore from "./RetainedStore.js"
/** @since 0.1.0 */
export * as Router from "./Router.js"
/** @since 0.1.0 */
export * as Session from "./Session.js"
/** @since 0.1.0 */
export * as SessionStore from "./SessionStore.js"
/** @since 0.1.0 */
export * as SubscriptionIndex from "./SubscriptionIndex.js"
/** @since 0.1.0 */
export * as Topic from "./Topic.js"
