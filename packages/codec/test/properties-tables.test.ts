/**
 * The MQTT 5 property table (identifiers, wire types, where each property may
 * appear) and the packet model's property Schemas are two descriptions of one
 * thing: they must agree, packet by packet.
 */

import type { Schema } from "effect"
import { assert, describe, it } from "vitest"
import { definitions, type PropertyContext } from "../src/internal/properties.js"
import * as Properties from "../src/Properties.js"

const schemas: ReadonlyArray<readonly [ReadonlyArray<PropertyContext>, Schema.Struct<Schema.Struct.Fields>]> = [
  [["Connect"], Properties.ConnectProperties],
  [["Will"], Properties.WillProperties],
  [["Connack"], Properties.ConnackProperties],
  [["Publish"], Properties.PublishProperties],
  [["Puback", "Pubrec", "Pubrel", "Pubcomp", "Suback", "Unsuback"], Properties.AckProperties],
  [["Subscribe"], Properties.SubscribeProperties],
  [["Unsubscribe"], Properties.UnsubscribeProperties],
  [["Disconnect"], Properties.DisconnectProperties],
  [["Auth"], Properties.AuthProperties]
]

/** The model's field for a table name: repeatable properties are plural lists in the model. */
const fieldOf = (name: string, fields: ReadonlyArray<string>) =>
  fields.includes(name) ? name : fields.includes(`${name}s`) ? `${name}s` : name

describe("the MQTT 5 property table and the packet model agree", () => {
  for (const [contexts, schema] of schemas) {
    it(`${contexts.join(", ")}`, () => {
      const fields = Object.keys(schema.fields).sort()
      for (const context of contexts) {
        const allowed = definitions
          .filter((def) => def.contexts.includes(context))
          .map((def) => fieldOf(def.name, fields))
          .sort()
        assert.deepStrictEqual(fields, allowed, context)
      }
    })
  }
})
