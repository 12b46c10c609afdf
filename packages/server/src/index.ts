/**
 * @mqttest/server: the mqttest MQTT server, as an Effect layer and a Promise API.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Authentication from "./Authentication.js"
/**
 * @since 0.1.0
 */
export * as Certificates from "./Certificates.js"
/** @since 0.1.0 */
export * as Config from "./Config.js"
/** @since 0.1.0 */
export * as Dump from "./Dump.js"
/** @since 0.1.0 */
export * from "./ListenError.js"
/** @since 0.1.0 */
export * as Listener from "./Listener.js"
/** @since 0.1.0 */
export * as MqttServer from "./MqttServer.js"
/**
 * @since 0.1.0
 */
export * as Pcap from "./Pcap.js"
/** @since 0.1.0 */
export { type Handle, loadConfig, start } from "./Promise.js"
/** @since 0.1.0 */
export * as ServerEvent from "./ServerEvent.js"
/**
 * @since 0.1.0
 */
export * as Timeline from "./Timeline.js"
/**
 * @since 0.1.0
 */
export * as View from "./View.js"
