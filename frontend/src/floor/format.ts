/**
 * How the Floor writes money, quantities and P&L.
 *
 * Rules kept here: amounts arrive as decimal strings (the server's NUMERIC values) and are
 * rounded as decimals, never through a float: AUD to 2 decimals and coin quantities to at most
 * 8, both half-even like the server's answers. A P&L carries its sign ("+$12.30", "-$4.05"),
 * zero has none, and a missing or malformed value is an em dash, never "NaN".
 */

interface Scaled {
  negative: boolean
  /** The absolute value times 10^scale. */
  units: bigint
  scale: number
}

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?$/

/** A decimal string (or a finite number) as an exact scaled integer; null when malformed. */
export function parseDecimal(value: string | number | null | undefined): Scaled | null {
  if (value === null || value === undefined) return null
  let text = typeof value === "number" ? (Number.isFinite(value) ? numberText(value) : "") : value.trim()
  if (/e/i.test(text)) text = typeof value === "string" && Number.isFinite(Number(text)) ? numberText(Number(text)) : ""
  const match = DECIMAL.exec(text)
  if (!match || (!match[2] && !match[3])) return null
  const whole = match[2] || "0"
  const fraction = match[3] ?? ""
  return { negative: match[1] === "-", units: BigInt(whole + fraction), scale: fraction.length }
}

function numberText(value: number): string {
  // Plain notation for numbers a float can hold (no exponent), enough digits to round-trip.
  return value.toLocaleString("en-US", { useGrouping: false, maximumFractionDigits: 20 })
}

/** Round to `decimals` places, half to even (banker's rounding, as the server does). */
export function roundDecimal(value: Scaled, decimals: number): Scaled {
  if (value.scale <= decimals) {
    return { ...value, units: value.units * 10n ** BigInt(decimals - value.scale), scale: decimals }
  }
  const divisor = 10n ** BigInt(value.scale - decimals)
  let quotient = value.units / divisor
  const remainder = value.units % divisor
  const twice = remainder * 2n
  if (twice > divisor || (twice === divisor && quotient % 2n === 1n)) quotient += 1n
  return { negative: value.negative && quotient !== 0n, units: quotient, scale: decimals }
}

function digits(value: Scaled, group: boolean): string {
  const text = value.units.toString().padStart(value.scale + 1, "0")
  const whole = text.slice(0, text.length - value.scale)
  const fraction = value.scale ? text.slice(text.length - value.scale) : ""
  const grouped = group ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") : whole
  return fraction ? `${grouped}.${fraction}` : grouped
}

/** The sign of a decimal string: -1, 0 or 1 (0 for a missing value). */
export function signOf(value: string | number | null | undefined): -1 | 0 | 1 {
  const parsed = parseDecimal(value)
  if (!parsed || parsed.units === 0n) return 0
  return parsed.negative ? -1 : 1
}

/** "$1,234.57" (negative: "-$1,234.57"); `signed` adds "+" to gains, as a P&L shows. */
export function formatAud(value: string | number | null | undefined, options: { signed?: boolean } = {}): string {
  const parsed = parseDecimal(value)
  if (!parsed) return "—"
  const rounded = roundDecimal(parsed, 2)
  const sign = rounded.units === 0n ? "" : rounded.negative ? "-" : options.signed ? "+" : ""
  return `${sign}$${digits(rounded, true)}`
}

/** A P&L amount: always signed. */
export function formatPnl(value: string | number | null | undefined): string {
  return formatAud(value, { signed: true })
}

/** "gain", "loss" or "" for a P&L value, for colouring. */
export function pnlClass(value: string | number | null | undefined): "gain" | "loss" | "" {
  const parsed = parseDecimal(value)
  if (!parsed) return ""
  const sign = roundDecimal(parsed, 2)
  if (sign.units === 0n) return ""
  return sign.negative ? "loss" : "gain"
}

/** A coin quantity: at most 8 decimals, trailing zeros dropped ("0.0123", "1.5", "2"). */
export function formatQuantity(value: string | number | null | undefined): string {
  const parsed = parseDecimal(value)
  if (!parsed) return "—"
  const rounded = roundDecimal(parsed, 8)
  const text = digits(rounded, true).replace(/\.?0+$/, "")
  return `${rounded.negative ? "-" : ""}${text || "0"}`
}

/** A price in AUD with the digits that matter: 2 decimals from $1 up, 8 significant below. */
export function formatRate(value: string | number | null | undefined): string {
  const parsed = parseDecimal(value)
  if (!parsed) return "—"
  const abs = Number(digits(parsed, false))
  if (abs >= 1) return formatAud(value)
  const rounded = roundDecimal(parsed, 8)
  return `${rounded.negative ? "-" : ""}$${digits(rounded, false).replace(/(\.\d{2,}?)0+$/, "$1")}`
}

/** A fraction as a signed percentage: 0.0123 → "+1.23%"; `signed: false` drops the "+". */
export function formatPercent(value: number | null | undefined, options: { signed?: boolean } = {}): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—"
  const text = (value * 100).toFixed(2)
  if (Number(text) === 0) return "0.00%"
  return `${value > 0 && options.signed !== false ? "+" : ""}${text}%`
}

/** A decimal string as a number, for charts and sums only (never for what is shown as money). */
export function toNumber(value: string | number | null | undefined): number {
  const parsed = parseDecimal(value)
  if (!parsed) return 0
  return Number(`${parsed.negative ? "-" : ""}${digits(parsed, false)}`)
}

/** Sum decimal strings exactly (to the largest scale among them). */
export function sumDecimals(values: Array<string | null | undefined>): string {
  const parsed = values.map(parseDecimal).filter((v): v is Scaled => v !== null)
  const scale = Math.max(0, ...parsed.map((v) => v.scale))
  let total = 0n
  for (const v of parsed) {
    const units = v.units * 10n ** BigInt(scale - v.scale)
    total += v.negative ? -units : units
  }
  const result: Scaled = { negative: total < 0n, units: total < 0n ? -total : total, scale }
  return `${result.negative ? "-" : ""}${digits(result, false)}`
}
