/**
 * Trade history across deployments: filtering and the CSV a user downloads.
 *
 * Rules kept here: filters are exact (deployment, coin, side) and by calendar day in the
 * profile's time zone, both ends included; the CSV keeps the server's decimal strings
 * untouched (no rounding on the way to a spreadsheet) and times in UTC ISO-8601, with
 * fields quoted when they need it and formula-looking text defused.
 */
import { calendarDay } from "@/format/time"

export interface TradeRow {
  id: string
  order_id: string
  deployment_id: string
  deployment: string
  mode: string
  coin: string
  side: string
  quantity: string
  price: string
  fee: string
  gst: string
  total_aud: string
  time: string
  source: string
}

export interface TradeFilter {
  deployment: string | null
  coin: string | null
  side: string | null
  /** Calendar days "YYYY-MM-DD" in the profile's zone ("" = open). */
  from: string
  to: string
}

export const NO_FILTER: TradeFilter = { deployment: null, coin: null, side: null, from: "", to: "" }

export function filterTrades(rows: TradeRow[], filter: TradeFilter, zone: string): TradeRow[] {
  return rows.filter((row) => {
    if (filter.deployment && row.deployment_id !== filter.deployment) return false
    if (filter.coin && row.coin !== filter.coin) return false
    if (filter.side && row.side !== filter.side) return false
    if (filter.from || filter.to) {
      const day = calendarDay(row.time, zone)
      if (filter.from && day < filter.from) return false
      if (filter.to && day > filter.to) return false
    }
    return true
  })
}

function cell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) && !/^-?\d/.test(value) ? `'${value}` : value
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

const COLUMNS: Array<[keyof TradeRow, string]> = [
  ["time", "time_utc"],
  ["deployment", "deployment"],
  ["mode", "mode"],
  ["coin", "coin"],
  ["side", "side"],
  ["quantity", "quantity"],
  ["price", "price_aud"],
  ["fee", "fee_aud_ex_gst"],
  ["gst", "gst_aud"],
  ["total_aud", "total_aud"],
  ["source", "source"],
  ["order_id", "order_id"],
  ["id", "trade_id"],
]

export function tradesCsv(rows: TradeRow[]): string {
  const lines = [COLUMNS.map(([, header]) => header).join(",")]
  for (const row of rows) {
    lines.push(COLUMNS.map(([key]) => cell(key === "time" ? new Date(row.time).toISOString() : String(row[key] ?? ""))).join(","))
  }
  return `${lines.join("\r\n")}\r\n`
}

/** Hand a text file to the browser as a download. */
export function download(name: string, text: string, type = "text/csv"): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const link = document.createElement("a")
  link.href = url
  link.download = name
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
