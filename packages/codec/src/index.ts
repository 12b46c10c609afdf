/**
 * @mqttest/codec: the typed MQTT packet model, incremental parser and encoder.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Codec from "./Codec.js"
/** @since 0.1.0 */
export * as CodecError from "./CodecError.js"
/** @since 0.1.0 */
export * as Encoder from "./Encoder.js"
/** @since 0.1.0 */
export * as Packet from "./Packet.js"
/** @since 0.1.0 */
export * as Parser from "./Parser.js"
/** @since 0.1.0 */
export * as ReasonCode from "./ReasonCode.js"
