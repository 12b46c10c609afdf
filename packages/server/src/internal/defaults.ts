/**
 * Options with defaults, declared once: the config Schema states each
 * default (`defaulted`), and the resolved config's Schema fills it in
 * (`filled`).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * An option with a default: optional in a config, and its default is part of
 * the Schema (announced in the JSON Schema, filled in by `resolve`).
 */
export const defaulted = <S extends Schema.Top>(schema: S, value: S["Type"]): Schema.optionalKey<S> => {
  const field = Schema.optionalKey(schema.annotate({ default: value }))
  defaults.set(field, value)
  return field as unknown as Schema.optionalKey<S>
}
const defaults = new WeakMap<Schema.Top, unknown>()

/** The option's default, as `defaulted` declared it. */
const defaultOf = <S extends Schema.Top>(field: Schema.optionalKey<S>): S["Encoded"] =>
  defaults.get(field) as S["Encoded"]

/** A defaulted option, required in a resolved config: decoding fills in its default. */
export const filled = <S extends Schema.Top>(field: Schema.optionalKey<S>) =>
  field.schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(defaultOf(field))))
