/** How metrics and money are shown. One place, so every page says the same thing. */

export type MetricKind = "percent" | "ratio" | "money" | "count" | "days" | "price"

export interface MetricSpec {
  key: string
  label: string
  kind: MetricKind
  /** Whether a larger value is better (null: neither). */
  higherIsBetter: boolean | null
}

export const METRICS: MetricSpec[] = [
  { key: "total_return", label: "Total return", kind: "percent", higherIsBetter: true },
  { key: "buy_and_hold_return", label: "Buy & hold", kind: "percent", higherIsBetter: null },
  { key: "cagr", label: "CAGR", kind: "percent", higherIsBetter: true },
  { key: "annualised_volatility", label: "Volatility (ann.)", kind: "percent", higherIsBetter: false },
  { key: "sharpe", label: "Sharpe", kind: "ratio", higherIsBetter: true },
  { key: "sortino", label: "Sortino", kind: "ratio", higherIsBetter: true },
  { key: "calmar", label: "Calmar", kind: "ratio", higherIsBetter: true },
  { key: "max_drawdown", label: "Max drawdown", kind: "percent", higherIsBetter: false },
  { key: "max_drawdown_duration_days", label: "Drawdown duration", kind: "days", higherIsBetter: false },
  { key: "recovery_days", label: "Recovery time", kind: "days", higherIsBetter: false },
  { key: "win_rate", label: "Win rate", kind: "percent", higherIsBetter: true },
  { key: "profit_factor", label: "Profit factor", kind: "ratio", higherIsBetter: true },
  { key: "average_win", label: "Average win", kind: "money", higherIsBetter: true },
  { key: "average_loss", label: "Average loss", kind: "money", higherIsBetter: true },
  { key: "trades", label: "Trades", kind: "count", higherIsBetter: null },
  { key: "exposure_time", label: "Time in market", kind: "percent", higherIsBetter: null },
  { key: "turnover", label: "Turnover", kind: "ratio", higherIsBetter: null },
  { key: "fees_paid", label: "Fees paid", kind: "money", higherIsBetter: false },
  { key: "final_equity", label: "Final equity", kind: "money", higherIsBetter: true },
]

const money = new Intl.NumberFormat("en-AU", { style: "currency", currency: "AUD", maximumFractionDigits: 2 })

/** A metric value as text; missing or non-finite values are an em dash, never "NaN". */
export function formatMetric(value: unknown, kind: MetricKind): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—"
  switch (kind) {
    case "percent":
      return `${(value * 100).toFixed(2)}%`
    case "ratio":
      return value.toFixed(2)
    case "money":
      return money.format(value)
    case "count":
      return Math.round(value).toLocaleString("en-AU")
    case "days":
      return `${value.toFixed(1)} d`
    case "price":
      return formatPrice(value)
  }
}

/**
 * Prices from 150,000 AUD down to 0.00001 AUD, with the digits that matter and at least two
 * decimals from 1 AUD up, so a column never shows "410" beside "407.95".
 */
export function formatPrice(value: number): string {
  if (!Number.isFinite(value)) return "—"
  const abs = Math.abs(value)
  if (abs >= 1000) return value.toLocaleString("en-AU", { minimumFractionDigits: 2, maximumFractionDigits: 2 })
  if (abs >= 1) return value.toLocaleString("en-AU", { minimumFractionDigits: 2, maximumFractionDigits: 4 })
  if (abs === 0) return "0"
  return value.toPrecision(4)
}

export function formatChange(pct: number | null | undefined): string {
  if (pct === null || pct === undefined || !Number.isFinite(pct)) return "—"
  return `${pct > 0 ? "+" : ""}${pct.toFixed(2)}%`
}

/** Which of several runs is best for a metric (indexes), or [] when it has no direction. */
export function bestIndexes(values: unknown[], higherIsBetter: boolean | null): number[] {
  if (higherIsBetter === null) return []
  const numbers = values.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null))
  const valid = numbers.filter((v): v is number => v !== null)
  if (valid.length < 2) return []
  const best = higherIsBetter ? Math.max(...valid) : Math.min(...valid)
  return numbers.flatMap((v, i) => (v === best ? [i] : []))
}
