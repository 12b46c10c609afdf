/**
 * Schema errors as a person reads them: one line per problem, with the
 * option's path, what it accepts and what it got, e.g.
 * `ackDelay: expected a number of ms, { fixed, times? }, …; got "x"`.
 * Unknown keys name the keys accepted there (and the nearest one).
 */
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"

interface Line {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const defaultMessage = SchemaIssue.makeFormatterDefault()

const show = (value: unknown): string => {
  if (value === undefined) return "nothing"
  let text: string
  try {
    text = typeof value === "function" ? "a function" : (JSON.stringify(value) ?? String(value))
  } catch {
    text = String(value)
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** A reason code is shown in hex too, as the accepted codes are. */
const showCode = (expected: string, value: unknown): string =>
  expected.includes("0x") && Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 255
    ? `${value} (0x${(value as number).toString(16).padStart(2, "0")})`
    : show(value)

const renderPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join("")

const lower = (message: string): string => message.replace(/^Expected /, "expected ")

const inputOf = (issue: SchemaIssue.Issue): unknown => (issue as { readonly input?: unknown }).input

const expectedOf = (ast: SchemaAST.AST): string | undefined => {
  const expected = ast.annotations?.expected
  return typeof expected === "string" ? expected : undefined
}

/** Edit distance, for "did you mean". */
const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

const unknownKey = (key: PropertyKey, accepted: ReadonlyArray<string>): string => {
  const name = String(key)
  const nearest = accepted
    .map((candidate) => [candidate, distance(name.toLowerCase(), candidate.toLowerCase())] as const)
    .filter(([, d]) => d <= Math.max(2, Math.floor(name.length / 3)))
    .sort((a, b) => a[1] - b[1])[0]
  return `unknown option${nearest !== undefined ? `; did you mean ${nearest[0]}?` : ""} (accepted: ${accepted.join(", ")})`
}

/** True when a struct's keys were all right and only a value inside was wrong. */
const shapeMatched = (issue: SchemaIssue.Issue): boolean => {
  switch (issue._tag) {
    case "InvalidType":
      return false
    case "Composite":
      return issue.issues.every(
        (child) =>
          !(child._tag === "Pointer" && (child.issue._tag === "MissingKey" || child.issue._tag === "UnexpectedKey"))
      )
    case "AnyOf":
      return issue.issues.some(shapeMatched)
    default:
      return true
  }
}

const walk = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): Array<Line> => {
  switch (issue._tag) {
    case "Pointer":
      return walk(issue.issue, [...path, ...issue.path])
    case "Encoding":
      return walk(issue.issue, path)
    case "AnyOf": {
      // Descend into the one alternative the value looked like; otherwise say what the union accepts.
      const matched = issue.issues.filter(shapeMatched)
      if (matched.length === 1) return walk(matched[0]!, path)
      const sameType = issue.issues.filter((member) => member._tag === "Composite")
      if (matched.length === 0 && sameType.length === 1) return walk(sameType[0]!, path)
      const expected = expectedOf(issue.ast)
      if (expected !== undefined)
        return [{ path, message: `expected ${expected}; got ${showCode(expected, inputOf(issue))}` }]
      if (issue.issues.length === 1) return walk(issue.issues[0]!, path)
      return [{ path, message: lower(defaultMessage(issue)) }]
    }
    case "Composite": {
      const accepted = SchemaAST.isObjects(issue.ast)
        ? issue.ast.propertySignatures.map((property) => String(property.name))
        : []
      return issue.issues.flatMap((child) =>
        child._tag === "Pointer" && child.issue._tag === "UnexpectedKey"
          ? [{ path: [...path, ...child.path], message: unknownKey(child.path.at(-1) ?? "", accepted) }]
          : walk(child, path)
      )
    }
    case "InvalidType": {
      const expected = expectedOf(issue.ast)
      if (expected !== undefined) return [{ path, message: `expected ${expected}; got ${show(inputOf(issue))}` }]
      return [{ path, message: lower(defaultMessage(issue)) }]
    }
    case "MissingKey":
      return [{ path, message: "missing (required)" }]
    default:
      return [{ path, message: lower(defaultMessage(issue)) }]
  }
}

/**
 * The lines of a Schema issue, each `path: problem` (decode with
 * `reportInput: true` so they can say what they got).
 */
export const format = (issue: SchemaIssue.Issue): string =>
  walk(issue, [])
    .map((line) => (line.path.length === 0 ? line.message : `${renderPath(line.path)}: ${line.message}`))
    .join("\n")
