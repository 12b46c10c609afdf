/**
 * Standalone JSON Schema files (draft 2020-12) from our Schemas, for any
 * standard validator: `$schema`, `$id`, title and description at the top,
 * definitions under `$defs`, and no member that accepts anything. A Schema
 * that only a program can give (an Effect Schedule, a function) becomes `{}`
 * in JSON Schema and would make its union accept every value: a JSON file
 * cannot hold one, so it is left out.
 */
import * as JsonSchema from "effect/JsonSchema"
import * as Schema from "effect/Schema"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isAnything = (node: Json): boolean =>
  typeof node === "object" && node !== null && !Array.isArray(node) && Object.keys(node).length === 0

const strip = (node: Json): Json => {
  if (Array.isArray(node)) return node.map(strip)
  if (typeof node !== "object" || node === null) return node
  const out: Record<string, Json> = {}
  for (const [key, value] of Object.entries(node as Record<string, Json>)) {
    if ((key === "anyOf" || key === "oneOf") && Array.isArray(value)) {
      out[key] = value.filter((member) => !isAnything(member)).map(strip)
    } else {
      out[key] = strip(value)
    }
  }
  // An anyOf left with one member is that member.
  const members = out.anyOf
  if (Array.isArray(members) && members.length === 1 && Object.keys(out).length === 1) return members[0]!
  return out
}

/** The JSON Schema file of a Schema; unknown keys are refused (`additionalProperties: false`). */
export const file = (
  schema: Schema.Top,
  meta: { readonly id: string; readonly title: string; readonly description: string }
): Record<string, unknown> => {
  const document = Schema.toJsonSchemaDocument(schema, { onExcessProperty: "error" })
  const definitions = strip(document.definitions as Json) as Record<string, Json>
  return {
    $schema: JsonSchema.META_SCHEMA_URI_DRAFT_2020_12,
    $id: meta.id,
    title: meta.title,
    description: meta.description,
    ...(strip(document.schema as Json) as Record<string, Json>),
    ...(Object.keys(definitions).length > 0 ? { $defs: definitions } : {})
  }
}
