/**
 * Server validation errors put next to the field they concern, in words a trader reads.
 *
 * Rules kept here: every message the server sends ends up somewhere (at its field, or in the
 * form's general message when no field matches); pydantic's phrasing is translated, not
 * dropped; a field's label replaces the technical location ("settings.starting_cash").
 */
import { ApiError, errorMessage } from "./errors"

interface FieldError {
  loc?: Array<string | number>
  msg?: string
  ctx?: Record<string, unknown>
}

export interface FieldSpec<F extends string> {
  /** The form field that shows errors at this location (a dotted path without "body"). */
  field: F
  label: string
  /** A message that replaces the server's for this field (e.g. when units differ). */
  message?: string
}

export interface MappedErrors<F extends string> {
  fields: Partial<Record<F, string>>
  /** What matched no field, readable. */
  other: string | null
}

const PHRASES: Array<[RegExp, (m: RegExpMatchArray) => string]> = [
  [/^Input should be a valid (number|integer|decimal).*/i, (m) => (m[1] === "integer" ? "must be a whole number" : "must be a number")],
  [/^Input should be greater than or equal to (.+)$/i, (m) => `must be at least ${m[1]}`],
  [/^Input should be greater than (.+)$/i, (m) => `must be more than ${m[1]}`],
  [/^Input should be less than or equal to (.+)$/i, (m) => `must be at most ${m[1]}`],
  [/^Input should be less than (.+)$/i, (m) => `must be less than ${m[1]}`],
  [/^List should have at least (\d+) items?.*/i, (m) => (m[1] === "1" ? "needs at least one choice" : `needs at least ${m[1]} choices`)],
  [/^List should have at most (\d+) items?.*/i, (m) => `allows at most ${m[1]} choices`],
  [/^Field required$/i, () => "is required"],
  [/^Input should be a valid (datetime|date).*/i, () => "is not a valid date"],
  [/^String should have at most (\d+) characters?$/i, (m) => `is too long (${m[1]} characters at most)`],
  [/^String should have at least (\d+) characters?$/i, (m) => `is too short (${m[1]} characters at least)`],
  [/^Extra inputs are not permitted$/i, () => "is not expected here"],
]

/** Pydantic's message as the end of a sentence that starts with the field's label. */
export function phrase(message: string): string {
  const text = message.replace(/^Value error, /, "").trim()
  for (const [pattern, make] of PHRASES) {
    const match = text.match(pattern)
    if (match) return make(match)
  }
  return `: ${text}`
}

function location(error: FieldError): string {
  const parts = (error.loc ?? []).filter((part, i) => !(i === 0 && typeof part === "string" && ["body", "query", "path"].includes(part)))
  return parts.join(".")
}

/**
 * Sort an API error's messages by form field. `specs` maps a location prefix
 * ("settings.fee_rate", "coins") to the field; `stringRules` route a plain-text detail to
 * a field by a pattern (the server's own 422 sentences).
 */
export function mapFieldErrors<F extends string>(
  error: unknown,
  specs: Record<string, FieldSpec<F>>,
  stringRules: Array<[RegExp, F]> = [],
): MappedErrors<F> {
  const fields: Partial<Record<F, string>> = {}
  const other: string[] = []
  const detail = error instanceof ApiError ? error.detail : undefined
  if (Array.isArray(detail)) {
    for (const item of detail as FieldError[]) {
      const where = location(item)
      const key = Object.keys(specs)
        .sort((a, b) => b.length - a.length)
        .find((prefix) => where === prefix || where.startsWith(`${prefix}.`))
      const spec = key === undefined ? undefined : specs[key]
      if (!spec) {
        other.push(`${where ? `${where}: ` : ""}${(item.msg ?? "is invalid").replace(/^Value error, /, "")}`)
        continue
      }
      const said = phrase(item.msg ?? "is invalid")
      const text = spec.message ?? (said.startsWith(":") ? `${spec.label}${said}` : `${spec.label} ${said}`)
      fields[spec.field] = fields[spec.field] ? `${fields[spec.field]}; ${text}` : text
    }
  } else if (typeof detail === "string") {
    const rule = stringRules.find(([pattern]) => pattern.test(detail))
    if (rule) fields[rule[1]] = detail.charAt(0).toUpperCase() + detail.slice(1)
    else other.push(detail)
  } else if (error !== undefined && error !== null) {
    other.push(errorMessage(error))
  }
  return { fields, other: other.length ? other.join("; ") : null }
}
