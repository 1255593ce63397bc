/**
 * Numbers typed by the user, read without changing them.
 *
 * Rules kept here: what the user typed stays in the box exactly as typed; a value is never
 * clamped, rounded, or has its sign dropped; text that is not a number reads as NaN (so the
 * form can say so next to the field) and an empty box reads as null. Thousands separators
 * (commas, spaces, underscores) between digits are accepted because they do not change the value.
 */

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/

/** The number in `text`: null when empty, NaN when it is not a number. */
export function parseNumber(text: string): number | null {
  const trimmed = text.trim()
  if (trimmed === "") return null
  const compact = trimmed.replace(/(?<=\d)[,_ ](?=\d{3})/g, "")
  if (!NUMBER.test(compact)) return Number.NaN
  return Number(compact)
}

/** Whether the box's text already says `value` (so an outside update need not rewrite it). */
export function textSays(text: string, value: number | null | undefined): boolean {
  const parsed = parseNumber(text)
  if (value === null || value === undefined) return parsed === null
  if (Number.isNaN(value)) return parsed !== null && Number.isNaN(parsed)
  return parsed === value
}

/** The text to show for a value set from outside the box. */
export function textOf(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return ""
  return String(value)
}

export interface NumberRule {
  label: string
  min?: number
  max?: number
  /** Bounds that the value must not equal (`gt`/`lt`). */
  exclusiveMin?: boolean
  exclusiveMax?: boolean
  integer?: boolean
  required?: boolean
  unit?: string
}

const show = (n: number): string => n.toLocaleString("en-AU", { maximumFractionDigits: 10 })

/** What is wrong with `value` under `rule`, in words, or undefined when it is fine. */
export function checkNumber(value: number | null | undefined, rule: NumberRule): string | undefined {
  const unit = rule.unit ? ` ${rule.unit}` : ""
  if (value === null || value === undefined) return rule.required === false ? undefined : `Enter ${rule.label.toLowerCase()}`
  if (!Number.isFinite(value)) return `${rule.label} must be a number`
  if (rule.integer && !Number.isInteger(value)) return `${rule.label} must be a whole number`
  if (rule.min !== undefined) {
    if (rule.exclusiveMin ? value <= rule.min : value < rule.min) {
      return rule.exclusiveMin ? `${rule.label} must be more than ${show(rule.min)}${unit}` : `${rule.label} must be at least ${show(rule.min)}${unit}`
    }
  }
  if (rule.max !== undefined) {
    if (rule.exclusiveMax ? value >= rule.max : value > rule.max) {
      return rule.exclusiveMax ? `${rule.label} must be less than ${show(rule.max)}${unit}` : `${rule.label} must be at most ${show(rule.max)}${unit}`
    }
  }
  return undefined
}
