/**
 * The MQTT 5 property table: identifier, field name, wire type, value rule,
 * and the packets each property may appear in (spec section 2.2.2.2).
 */
import type { PacketTag } from "../Packet.js"

/** Wire types of property values. */
export type WireType = "byte" | "u16" | "u32" | "varint" | "string" | "binary" | "pair"

/** How a property value is checked and represented in the model. */
export type ValueRule =
  | "any"
  /** byte 0 or 1, a boolean in the model */
  | "boolean"
  /** byte 0 or 1, a number in the model */
  | "zeroOrOne"
  /** must not be 0 */
  | "nonZero"

/** Where a property set applies: a packet, or the will inside CONNECT. */
export type PropertyContext = PacketTag | "Will"

export interface PropertyDef {
  readonly id: number
  readonly name: string
  readonly type: WireType
  readonly rule: ValueRule
  /** Contexts that allow the property. */
  readonly contexts: ReadonlyArray<PropertyContext>
}

const acks: ReadonlyArray<PropertyContext> = ["Puback", "Pubrec", "Pubrel", "Pubcomp", "Suback", "Unsuback"]

/** All MQTT 5 properties in identifier order. */
export const definitions: ReadonlyArray<PropertyDef> = [
  { id: 0x01, name: "payloadFormatIndicator", type: "byte", rule: "zeroOrOne", contexts: ["Publish", "Will"] },
  { id: 0x02, name: "messageExpiryInterval", type: "u32", rule: "any", contexts: ["Publish", "Will"] },
  { id: 0x03, name: "contentType", type: "string", rule: "any", contexts: ["Publish", "Will"] },
  { id: 0x08, name: "responseTopic", type: "string", rule: "any", contexts: ["Publish", "Will"] },
  { id: 0x09, name: "correlationData", type: "binary", rule: "any", contexts: ["Publish", "Will"] },
  // In PUBLISH the model holds a list (`subscriptionIdentifiers`), see `fieldName`.
  { id: 0x0b, name: "subscriptionIdentifier", type: "varint", rule: "nonZero", contexts: ["Publish", "Subscribe"] },
  {
    id: 0x11,
    name: "sessionExpiryInterval",
    type: "u32",
    rule: "any",
    contexts: ["Connect", "Connack", "Disconnect"]
  },
  { id: 0x12, name: "assignedClientIdentifier", type: "string", rule: "any", contexts: ["Connack"] },
  { id: 0x13, name: "serverKeepAlive", type: "u16", rule: "any", contexts: ["Connack"] },
  { id: 0x15, name: "authenticationMethod", type: "string", rule: "any", contexts: ["Connect", "Connack", "Auth"] },
  { id: 0x16, name: "authenticationData", type: "binary", rule: "any", contexts: ["Connect", "Connack", "Auth"] },
  { id: 0x17, name: "requestProblemInformation", type: "byte", rule: "boolean", contexts: ["Connect"] },
  { id: 0x18, name: "willDelayInterval", type: "u32", rule: "any", contexts: ["Will"] },
  { id: 0x19, name: "requestResponseInformation", type: "byte", rule: "boolean", contexts: ["Connect"] },
  { id: 0x1a, name: "responseInformation", type: "string", rule: "any", contexts: ["Connack"] },
  { id: 0x1c, name: "serverReference", type: "string", rule: "any", contexts: ["Connack", "Disconnect"] },
  {
    id: 0x1f,
    name: "reasonString",
    type: "string",
    rule: "any",
    contexts: ["Connack", ...acks, "Disconnect", "Auth"]
  },
  { id: 0x21, name: "receiveMaximum", type: "u16", rule: "nonZero", contexts: ["Connect", "Connack"] },
  { id: 0x22, name: "topicAliasMaximum", type: "u16", rule: "any", contexts: ["Connect", "Connack"] },
  { id: 0x23, name: "topicAlias", type: "u16", rule: "nonZero", contexts: ["Publish"] },
  { id: 0x24, name: "maximumQoS", type: "byte", rule: "zeroOrOne", contexts: ["Connack"] },
  { id: 0x25, name: "retainAvailable", type: "byte", rule: "boolean", contexts: ["Connack"] },
  {
    id: 0x26,
    name: "userProperties",
    type: "pair",
    rule: "any",
    contexts: ["Connect", "Will", "Connack", "Publish", ...acks, "Subscribe", "Unsubscribe", "Disconnect", "Auth"]
  },
  { id: 0x27, name: "maximumPacketSize", type: "u32", rule: "nonZero", contexts: ["Connect", "Connack"] },
  { id: 0x28, name: "wildcardSubscriptionAvailable", type: "byte", rule: "boolean", contexts: ["Connack"] },
  { id: 0x29, name: "subscriptionIdentifiersAvailable", type: "byte", rule: "boolean", contexts: ["Connack"] },
  { id: 0x2a, name: "sharedSubscriptionAvailable", type: "byte", rule: "boolean", contexts: ["Connack"] }
]

/** Property definitions by identifier. */
export const byId: ReadonlyArray<PropertyDef | undefined> = (() => {
  const table: Array<PropertyDef | undefined> = new Array(0x2b).fill(undefined)
  for (const def of definitions) table[def.id] = def
  return table
})()

/** The model field that holds a property in a context. */
export const fieldName = (def: PropertyDef, context: PropertyContext): string =>
  def.id === 0x0b && context === "Publish" ? "subscriptionIdentifiers" : def.name

/** Whether a property may appear more than once in a context. */
export const repeatable = (def: PropertyDef, context: PropertyContext): boolean =>
  def.id === 0x26 || (def.id === 0x0b && context === "Publish")

/** The properties of each context, in identifier order, with their model field names. */
export const forContext: (context: PropertyContext) => ReadonlyArray<readonly [string, PropertyDef]> = (() => {
  const cache = new Map<PropertyContext, ReadonlyArray<readonly [string, PropertyDef]>>()
  return (context) => {
    let entries = cache.get(context)
    if (entries === undefined) {
      entries = definitions
        .filter((def) => def.contexts.includes(context))
        .map((def) => [fieldName(def, context), def] as const)
      cache.set(context, entries)
    }
    return entries
  }
})()
