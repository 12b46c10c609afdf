/**
 * Ports and port ranges, as Schemas.
 */
import * as Schema from "effect/Schema"

const Port = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

/**
 * A port (`0` lets the OS pick one) or an inclusive range `"from-to"`; the
 * first port of the range that binds wins.
 */
export const Ports = Schema.Union([
  Port,
  Schema.String.check(
    Schema.isPattern(/^\d{1,5}-\d{1,5}$/u),
    Schema.makeFilter((s) => {
      const match = /^(\d{1,5})-(\d{1,5})$/.exec(s)
      if (match === null) return `expected a port or a range "from-to", got ${JSON.stringify(s)}`
      const from = Number(match[1])
      const to = Number(match[2])
      if (from > 65535 || to > 65535) return `ports must be at most 65535, got ${JSON.stringify(s)}`
      if (from > to) return `range ${JSON.stringify(s)} ends before it starts`
      return undefined
    })
  )
])
