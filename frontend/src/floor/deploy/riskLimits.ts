/**
 * A deployment's risk limits as a form: which limits there are, their units, bounds and
 * defaults, checks before sending (the server checks again) and the request body.
 *
 * Rules kept here: the limits come from the RiskLimits schema (backend/app/floor/schemas.py);
 * a limit this file does not know yet (the server added one) is still shown and sent, its
 * unit read from its name (`_aud`, `_fraction`, `_seconds`, `_minutes`, `_per_hour`);
 * fractions are typed in percent and sent as exact decimal strings (7 % → "0.07"), never
 * rounded or clamped; an empty box means "no limit" and is sent as null; nothing the user
 * typed is changed.
 */
import { checkNumber } from "@/forms/number"

export type LimitUnit = "AUD" | "%" | "s" | "min" | "per hour" | ""

export interface LimitSpec {
  key: string
  label: string
  unit: LimitUnit
  /** Sent as a fraction, typed in percent. */
  percent: boolean
  integer: boolean
  min: number
  exclusiveMin: boolean
  max?: number
  help: string
}

/**
 * Server defaults (RiskLimits): what a deployment gets when a box is left as it is. The last
 * three are the documented defaults of FLOOR_RISK_MAX_PRICE_AGE_SECONDS,
 * FLOOR_RISK_MAX_PRICE_JUMP_FRACTION and FLOOR_RISK_MAX_SPREAD_FRACTION.
 */
export const LIMIT_DEFAULTS: Record<string, number | string | null> = {
  max_order_aud: null,
  max_position_aud: null,
  max_position_fraction: "1",
  daily_loss_aud: null,
  max_drawdown_fraction: "0.5",
  max_orders_per_hour: 60,
  cooldown_minutes: null,
  max_price_age_seconds: 600,
  max_price_jump_fraction: "0.2",
  max_spread_fraction: "0.05",
}

const KNOWN: Record<string, Partial<LimitSpec>> = {
  max_order_aud: { label: "Largest order", max: 1e9, help: "No single order above this amount." },
  max_position_aud: { label: "Largest position per coin", max: 1e9, help: "Holdings of one coin, at cost, stay below this." },
  max_position_fraction: { label: "Largest position share", max: 1, help: "One coin's holdings as a share of the capital." },
  daily_loss_aud: { label: "Daily loss limit", max: 1e9, help: "Halts the deployment when today's loss reaches this." },
  max_drawdown_fraction: { label: "Maximum drawdown", max: 1, help: "Halts the deployment when equity falls this far from its peak." },
  max_orders_per_hour: { label: "Orders per hour", min: 1, exclusiveMin: false, max: 10_000, help: "More orders than this in an hour are refused." },
  cooldown_minutes: { label: "Cooldown after a loss", min: 0, exclusiveMin: false, max: 10_080, help: "Minutes without new orders after a losing trade." },
  max_price_age_seconds: { label: "Oldest usable price", min: 1, exclusiveMin: false, max: 86_400, help: "An older price is not traded on." },
  max_price_jump_fraction: { label: "Largest price jump", max: 10, help: "A price moving more than this between bars is not traded on." },
  max_spread_fraction: { label: "Widest spread", max: 1, help: "No order while the bid/ask spread is wider than this." },
}

function labelOf(key: string): string {
  const words = key
    .replace(/_(aud|fraction|seconds|minutes)$/, "")
    .split("_")
    .join(" ")
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** The spec of a limit, known or read from its name. */
export function limitSpec(key: string): LimitSpec {
  const known = KNOWN[key] ?? {}
  const percent = key.endsWith("_fraction")
  const unit: LimitUnit = key.endsWith("_aud")
    ? "AUD"
    : percent
      ? "%"
      : key.endsWith("_seconds")
        ? "s"
        : key.endsWith("_minutes")
          ? "min"
          : key.endsWith("_per_hour")
            ? "per hour"
            : ""
  const integer = ["s", "min", "per hour"].includes(unit)
  const max = known.max
  return {
    key,
    label: known.label ?? labelOf(key),
    unit,
    percent,
    integer,
    min: known.min ?? 0,
    exclusiveMin: known.exclusiveMin ?? true,
    max: max === undefined ? undefined : percent ? max * 100 : max,
    help: known.help ?? "",
  }
}

/** Whether a stored value can be a limit's number (objects such as `actions` are not). */
function isLimitValue(value: unknown): boolean {
  return value === null || typeof value === "number" || (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value)))
}

/** The limits to show: the known ones in order, then any other numeric ones the values carry. */
export function limitKeys(values?: Record<string, unknown> | null): string[] {
  const keys = Object.keys(LIMIT_DEFAULTS)
  for (const [key, value] of Object.entries(values ?? {})) if (!keys.includes(key) && isLimitValue(value)) keys.push(key)
  return keys
}

/**
 * The body that replaces a deployment's limits (PUT replaces the whole set): the form's
 * limits, and whatever else the stored set holds that is not a limit box (such as the
 * per-limit breach `actions`) kept as it was.
 */
export function limitsUpdateBody(values: LimitValues, current: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const kept = Object.fromEntries(Object.entries(current ?? {}).filter(([key, value]) => !(key in values) && !isLimitValue(value)))
  return { ...kept, ...formToLimits(values) }
}

export type LimitValues = Record<string, number | null>
export type LimitErrors = Record<string, string>

/** x × 10^digits written exactly from the decimal text of x (no binary rounding). */
function shift(value: number | string, digits: number): string {
  const text = typeof value === "number" ? String(value) : value.trim()
  const match = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text)
  if (!match) return text
  const [, sign, int = "", frac = "", exp = "0"] = match
  const digitsAll = `${int}${frac}`
  let point = int.length + Number(exp) + digits
  let body = digitsAll
  if (point < 0) {
    body = "0".repeat(-point) + body
    point = 0
  }
  if (point > body.length) body += "0".repeat(point - body.length)
  const whole = body.slice(0, point).replace(/^0+(?=\d)/, "") || "0"
  const part = body.slice(point).replace(/0+$/, "")
  return `${sign === "-" ? "-" : ""}${whole}${part ? `.${part}` : ""}`
}

/** Stored limits (fractions as the server holds them) as the form's values (percent). */
export function limitsToForm(limits: Record<string, unknown> | null | undefined, keys = limitKeys(limits)): LimitValues {
  const values: LimitValues = {}
  for (const key of keys) {
    const raw = limits && key in limits ? limits[key] : LIMIT_DEFAULTS[key]
    if (raw === null || raw === undefined || raw === "") {
      values[key] = null
      continue
    }
    const spec = limitSpec(key)
    const text = typeof raw === "number" || typeof raw === "string" ? raw : String(raw)
    values[key] = Number(spec.percent ? shift(text, 2) : text)
  }
  return values
}

/** What is wrong with each limit, by key. */
export function checkLimits(values: LimitValues): LimitErrors {
  const errors: LimitErrors = {}
  for (const [key, value] of Object.entries(values)) {
    const spec = limitSpec(key)
    const problem = checkNumber(value, {
      label: spec.label,
      min: spec.min,
      exclusiveMin: spec.exclusiveMin,
      max: spec.max,
      integer: spec.integer,
      required: false,
      unit: spec.unit === "per hour" ? "" : spec.unit,
    })
    if (problem) errors[key] = problem
    else if (spec.unit === "AUD" && value !== null && !Number.isInteger(Math.round(value * 100 * 1e6) / 1e6)) errors[key] = `${spec.label} is in whole cents (2 decimals at most)`
  }
  return errors
}

/** The request's `risk_limits`: fractions as exact decimal strings, empty boxes as null. */
export function formToLimits(values: LimitValues): Record<string, number | string | null> {
  const body: Record<string, number | string | null> = {}
  for (const [key, value] of Object.entries(values)) {
    const spec = limitSpec(key)
    if (value === null || Number.isNaN(value)) body[key] = null
    else body[key] = spec.percent ? shift(value, -2) : spec.integer ? value : String(value)
  }
  return body
}

/** A limit's value for reading: "no limit" when empty, in its unit. */
export function describeLimit(key: string, raw: unknown): string {
  if (raw === null || raw === undefined || raw === "") return "no limit"
  const spec = limitSpec(key)
  const text = typeof raw === "number" || typeof raw === "string" ? String(raw) : JSON.stringify(raw)
  const n = Number(spec.percent ? shift(text, 2) : text)
  if (!Number.isFinite(n)) return text
  const shown = n.toLocaleString("en-AU", { maximumFractionDigits: spec.unit === "AUD" ? 2 : 6 })
  if (spec.unit === "AUD") return `${shown} AUD`
  if (spec.unit === "%") return `${shown} %`
  return spec.unit ? `${shown} ${spec.unit}` : shown
}

export { shift as shiftDecimal }
