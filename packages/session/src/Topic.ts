/**
 * Topic names, topic filters and matching (MQTT section 4.7), and MQTT 5
 * shared subscription filters (section 4.8.2).
 *
 * @since 0.1.0
 */
import type { Packet } from "@mqttest/codec"

/**
 * Why a topic name or filter is invalid, with the statement it breaks.
 * @since 0.1.0
 */
export interface TopicProblem {
  readonly problem: string
  readonly spec: string
}

/**
 * A valid topic filter, split into levels; `shareGroup` is set for an MQTT 5
 * `$share/{group}/{filter}` subscription, whose levels are the inner filter's.
 * @since 0.1.0
 */
export interface ParsedFilter {
  readonly filter: string
  readonly levels: ReadonlyArray<string>
  readonly shareGroup: string | undefined
}

/**
 * Checks a topic name from a PUBLISH: non-empty [MQTT-4.7.3-1] and free of
 * wildcards [MQTT-3.3.2-2]. MQTT 5 allows an empty name when a topic alias
 * stands in for it; that case is the caller's.
 * @since 0.1.0
 */
export const validateName = (name: string): TopicProblem | undefined => {
  if (name.length === 0) return { problem: "topic name is empty", spec: "MQTT-4.7.3-1" }
  if (name.includes("\u0000"))
    return { problem: `topic name ${JSON.stringify(name)} contains U+0000`, spec: "MQTT-1.5.4-2" }
  if (name.includes("+") || name.includes("#")) {
    return { problem: `topic name ${JSON.stringify(name)} contains a wildcard`, spec: "MQTT-3.3.2-2" }
  }
  return undefined
}

const checkLevels = (filter: string, levels: ReadonlyArray<string>): TopicProblem | undefined => {
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return { problem: `'#' must be the last level on its own in ${JSON.stringify(filter)}`, spec: "MQTT-4.7.1-2" }
    }
    if (level.includes("+") && level !== "+") {
      return { problem: `'+' must occupy a whole level in ${JSON.stringify(filter)}`, spec: "MQTT-4.7.1-3" }
    }
  }
  return undefined
}

/**
 * Checks and parses a topic filter from a SUBSCRIBE or UNSUBSCRIBE. At
 * protocol level 5 a filter starting with `$share/` is a shared subscription.
 * @since 0.1.0
 */
export const parseFilter = (filter: string, level: Packet.ProtocolLevel): ParsedFilter | TopicProblem => {
  if (filter.length === 0) return { problem: "topic filter is empty", spec: "MQTT-4.7.3-1" }
  if (level === 5 && filter.startsWith("$share/")) {
    const rest = filter.slice("$share/".length)
    const slash = rest.indexOf("/")
    const group = slash < 0 ? rest : rest.slice(0, slash)
    const inner = slash < 0 ? "" : rest.slice(slash + 1)
    if (group.length === 0 || group.includes("+") || group.includes("#")) {
      return { problem: `invalid share name in ${JSON.stringify(filter)}`, spec: "MQTT-4.8.2-2" }
    }
    if (inner.length === 0) {
      return { problem: `shared subscription ${JSON.stringify(filter)} has no topic filter`, spec: "MQTT-4.8.2-1" }
    }
    const levels = inner.split("/")
    return checkLevels(filter, levels) ?? { filter, levels, shareGroup: group }
  }
  const levels = filter.split("/")
  return checkLevels(filter, levels) ?? { filter, levels, shareGroup: undefined }
}

/**
 * Whether a parse result is a problem.
 * @since 0.1.0
 */
export const isProblem = (u: ParsedFilter | TopicProblem): u is TopicProblem => "problem" in u

/**
 * Whether a filter (split into levels) matches a topic name. Filters that
 * start with a wildcard do not match names starting with `$` [MQTT-4.7.2-1].
 * @since 0.1.0
 */
export const matchesLevels = (levels: ReadonlyArray<string>, name: string): boolean => {
  const parts = name.split("/")
  if (name.startsWith("$") && (levels[0] === "+" || levels[0] === "#")) return false
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level === "#") return true
    if (i >= parts.length) return false
    if (level !== "+" && level !== parts[i]) return false
  }
  return levels.length === parts.length
}

/**
 * Whether a topic filter matches a topic name (both as strings; the filter is
 * assumed valid).
 * @since 0.1.0
 */
export const matches = (filter: string, name: string): boolean => matchesLevels(filter.split("/"), name)

/**
 * Whether a filter contains a wildcard.
 * @since 0.1.0
 */
export const hasWildcard = (filter: string): boolean => filter.includes("+") || filter.includes("#")
