/**
 * Runs described in words: parameters as "fast 12 · slow 48" (not JSON) and the settings a
 * run used (cash, fee, slippage) — one place so the backtest, compare and sweep pages agree.
 */
import { formatMetric } from "./format"

export function describeParameters(parameters: Record<string, unknown> | null | undefined): string {
  const entries = Object.entries(parameters ?? {})
  if (!entries.length) return "no parameters"
  return entries.map(([name, value]) => `${name.replace(/_/g, " ")} ${typeof value === "number" ? String(value) : String(value)}`).join(" · ")
}

export interface SettingRow {
  key: string
  label: string
  text: string
}

/** The settings that change a result, in words. */
export function describeSettings(settings: Record<string, unknown> | null | undefined): SettingRow[] {
  const s = settings ?? {}
  const num = (key: string): number | undefined => (typeof s[key] === "number" ? (s[key] as number) : undefined)
  const rows: SettingRow[] = []
  const cash = num("starting_cash")
  if (cash !== undefined) rows.push({ key: "starting_cash", label: "Starting cash", text: formatMetric(cash, "money") })
  const fee = num("fee_rate")
  if (fee !== undefined) rows.push({ key: "fee_rate", label: "Fee", text: `${(fee * 100).toLocaleString("en-AU", { maximumFractionDigits: 4 })} %` })
  const slippage = num("slippage_bps")
  if (slippage !== undefined) rows.push({ key: "slippage_bps", label: "Slippage", text: `${slippage.toLocaleString("en-AU")} bps` })
  const minOrder = num("min_order_aud")
  if (minOrder) rows.push({ key: "min_order_aud", label: "Minimum order", text: formatMetric(minOrder, "money") })
  return rows
}
