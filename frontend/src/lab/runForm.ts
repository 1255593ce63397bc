/**
 * The backtest form: checks before sending (the server checks again) and where the server's
 * answers go.
 *
 * Rules kept here: bounds mirror TradingSettings (backend/app/lab/backtests/schemas.py); the
 * fee is typed in percent and sent as a fraction; numbers are checked, never clamped.
 */
import type { FieldSpec } from "@/api/fields"
import { checkNumber } from "@/forms/number"
import { startOfDay } from "@/format/time"

export interface RunForm {
  coins: string[]
  start: string
  end: string
  cash: number | null
  feePct: number | null
  slippage: number | null
  label: string
}

export type RunField = keyof RunForm | "parameters"
export type RunErrors = Partial<Record<RunField, string>>

export const MAX_CASH = 1_000_000_000
export const MAX_FEE_PCT = 10
export const MAX_SLIPPAGE_BPS = 1000

export function checkRunForm(form: RunForm, zone?: string | null): RunErrors {
  const errors: RunErrors = {}
  if (!form.coins.length) errors.coins = "Choose at least one coin"
  const start = startOfDay(form.start, zone)
  const end = startOfDay(form.end, zone)
  if (!start) errors.start = "Enter the first day as DD/MM/YYYY"
  if (!end) errors.end = "Enter the last day as DD/MM/YYYY"
  if (start && end && end < start) errors.end = "The last day is before the first day"
  const cash = checkNumber(form.cash, { label: "Starting cash", min: 0, exclusiveMin: true, max: MAX_CASH, unit: "AUD" })
  if (cash) errors.cash = cash
  const fee = checkNumber(form.feePct, { label: "Fee", min: 0, max: MAX_FEE_PCT, unit: "%" })
  if (fee) errors.feePct = fee
  const slippage = checkNumber(form.slippage, { label: "Slippage", min: 0, max: MAX_SLIPPAGE_BPS, unit: "bps" })
  if (slippage) errors.slippage = slippage
  if (form.label.length > 100) errors.label = "The label is too long (100 characters at most)"
  return errors
}

/** The request's time range: from the first day's midnight to the last 5-minute bar of the last day, in the zone. */
export function runRange(form: Pick<RunForm, "start" | "end">, zone?: string | null): { start: string; end: string } | null {
  const start = startOfDay(form.start, zone)
  const end = startOfDay(form.end, zone)
  if (!start || !end) return null
  return { start: start.toISOString(), end: new Date(end.getTime() + 86_400_000 - 300_000).toISOString() }
}

/** Where the server's validation errors about a backtest or sweep go. */
export const RUN_FIELD_SPECS: Record<string, FieldSpec<RunField>> = {
  coins: { field: "coins", label: "Coins" },
  start: { field: "start", label: "The first day" },
  end: { field: "end", label: "The last day" },
  "settings.starting_cash": { field: "cash", label: "Starting cash" },
  "settings.fee_rate": { field: "feePct", label: "Fee", message: `Fee must be between 0 % and ${MAX_FEE_PCT} %` },
  "settings.slippage_bps": { field: "slippage", label: "Slippage" },
  label: { field: "label", label: "Label" },
  parameters: { field: "parameters", label: "Parameters" },
}

/** The server's own sentences (422 with a string detail), routed by what they talk about. */
export const RUN_STRING_RULES: Array<[RegExp, RunField]> = [
  [/^invalid parameters|parameter|constraint/i, "parameters"],
  [/\bcoins?\b/i, "coins"],
  [/\brange\b|\bstart\b|\bend\b|\bdata\b/i, "start"],
]
