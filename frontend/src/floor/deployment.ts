/**
 * A deployment's records in words: a cycle's decisions and timings, amounts, the drift report,
 * and which status actions make sense.
 *
 * Rules kept here: money is read from the server's decimal strings and shown to the cent
 * (AUD) or 8 decimals (coin), never rounded before it is shown; a missing figure is "—",
 * never 0; `unknown` orders are flagged, never hidden; the drift report's fields are read
 * defensively (the report is a free-form object).
 */
import type { DeploymentStatus, ExecutionRunPublic, OrderPublic } from "@/client/types.gen"

const aud = new Intl.NumberFormat("en-AU", { style: "currency", currency: "AUD", minimumFractionDigits: 2, maximumFractionDigits: 2 })

function num(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null
  if (typeof value === "string" && value.trim() !== "") {
    const n = Number(value)
    return Number.isFinite(n) ? n : null
  }
  return null
}

export function formatAud(value: unknown): string {
  const n = num(value)
  return n === null ? "—" : aud.format(n)
}

export function formatQuantity(value: unknown): string {
  const n = num(value)
  return n === null ? "—" : n.toLocaleString("en-AU", { maximumFractionDigits: 8 })
}

export function formatPercent(value: unknown, digits = 2): string {
  const n = num(value)
  return n === null ? "—" : `${(n * 100).toLocaleString("en-AU", { maximumFractionDigits: digits })} %`
}

export interface DecisionRow {
  coin: string
  action: string
  target: string
  detail: string
  order: string
}

/** One line per coin of a cycle: what it decided and why. */
export function decisionRows(run: Pick<ExecutionRunPublic, "decisions">): DecisionRow[] {
  return Object.entries(run.decisions ?? {}).map(([coin, raw]) => {
    const d = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>
    const target = num(d.target)
    const order = d.action === "order" ? `${String(d.side ?? "")} ${formatQuantity(d.quantity)} ${coin} → ${String(d.status ?? "")}`.trim() : ""
    return {
      coin,
      action: String(d.action ?? "—").replace(/_/g, " "),
      target: target === null ? "—" : formatPercent(target, 1),
      detail: typeof d.detail === "string" ? d.detail : "",
      order,
    }
  })
}

/** The cycle's timings ("prepare 12 ms · sandbox 40 ms · total 80 ms"), numbers only. */
export function describeTimings(timings: Record<string, unknown> | null | undefined): string {
  const parts: string[] = []
  for (const [key, value] of Object.entries(timings ?? {})) {
    if (!key.endsWith("_ms")) continue
    const n = num(value)
    if (n === null) continue
    parts.push(`${key.slice(0, -3).replace(/_/g, " ")} ${n.toLocaleString("en-AU", { maximumFractionDigits: 1 })} ms`)
  }
  return parts.join(" · ") || "—"
}

export function isUnknown(order: Pick<OrderPublic, "status">): boolean {
  return order.status === "unknown"
}

export interface DriftSummary {
  decided: boolean
  detail: string
  liveEquity: string
  backtestEquity: string
  drift: string
  threshold: string
  alert: boolean
  slippage: string
  feeDrift: string
  matched: number
  differing: number
  fills: Array<{ coin: string; bar: string; status: string; live: string; backtest: string }>
}

function describeFill(raw: unknown, coin: string): string {
  if (!raw || typeof raw !== "object") return "—"
  const f = raw as Record<string, unknown>
  return `${String(f.side ?? "")} ${formatQuantity(f.quantity)} ${coin} @ ${formatAud(f.price)}`
}

/** The drift report in words. */
export function summariseDrift(report: Record<string, unknown> | null | undefined): DriftSummary {
  const r = report ?? {}
  const fills = Array.isArray(r.fills) ? (r.fills as Array<Record<string, unknown>>) : []
  return {
    decided: r.live_equity !== undefined,
    detail: typeof r.detail === "string" ? r.detail : "",
    liveEquity: formatAud(r.live_equity),
    backtestEquity: formatAud(r.backtest_equity),
    drift: formatPercent(r.drift),
    threshold: formatPercent(r.threshold),
    alert: r.alert === true,
    slippage: formatAud(r.slippage_aud),
    feeDrift: formatAud(r.fee_drift_aud),
    matched: num(r.matched) ?? 0,
    differing: num(r.differing) ?? 0,
    fills: fills.map((f) => {
      const coin = String(f.coin ?? "")
      return { coin, bar: String(f.bar ?? ""), status: String(f.status ?? ""), live: describeFill(f.live, coin), backtest: describeFill(f.backtest, coin) }
    }),
  }
}

export type StatusAction = "activate" | "pause" | "deactivate"

/** The status changes offered for a status (stopped is final). */
export function statusActions(status: DeploymentStatus): StatusAction[] {
  switch (status) {
    case "active":
      return ["pause", "deactivate"]
    case "paused":
    case "halted":
    case "reducing":
      return ["activate", "deactivate"]
    default:
      return []
  }
}

export const STATUS_SEVERITY: Record<DeploymentStatus, "success" | "warn" | "danger" | "secondary" | "info"> = {
  active: "success",
  paused: "warn",
  reducing: "info",
  halted: "danger",
  stopped: "secondary",
}
