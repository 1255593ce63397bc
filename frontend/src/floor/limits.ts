/**
 * Limit headroom shown on a deployment's card: how far each risk limit is from biting.
 *
 * Rules kept here: only limits that are set are shown; amounts are computed from the
 * server's decimal strings (as numbers, for display only: the risk engine on the server is
 * the one that enforces); a limit already reached shows "reached", never a negative room.
 */
import { formatAud, formatPercent, toNumber } from "./format"

export interface Headroom {
  label: string
  text: string
  /** Room left as a fraction of the limit (0 = reached), null when not measurable. */
  fraction: number | null
}

interface Figures {
  exposure: string
  equity: string
  total_pnl: string
  deployment: { capital: string }
}

function room(label: string, limit: number, used: number, money: boolean): Headroom {
  const left = Math.max(0, limit - used)
  const fraction = limit > 0 ? left / limit : 0
  if (left <= 0) return { label, text: "reached", fraction: 0 }
  const show = (v: number) => (money ? formatAud(v.toFixed(2)) : formatPercent(v, { signed: false }))
  return { label, text: `${show(left)} of ${show(limit)} left`, fraction }
}

function num(value: unknown): number | null {
  if (value === null || value === undefined || value === "") return null
  const n = typeof value === "number" ? value : toNumber(String(value))
  return Number.isFinite(n) && n > 0 ? n : null
}

/** Headroom of the limits set on a deployment, given its live figures and today's P&L. */
export function headroomOf(limits: Record<string, unknown>, figures: Figures, today: string | null = null): Headroom[] {
  const out: Headroom[] = []
  const capital = toNumber(figures.deployment.capital)
  const exposure = toNumber(figures.exposure)
  const maxPosition = num(limits.max_position_aud)
  if (maxPosition !== null) out.push(room("Position", maxPosition, exposure, true))
  const maxFraction = num(limits.max_position_fraction)
  if (maxFraction !== null && capital > 0) out.push(room("Exposure", maxFraction * capital, exposure, true))
  const dailyLoss = num(limits.daily_loss_aud)
  if (dailyLoss !== null) out.push(room("Daily loss", dailyLoss, Math.max(0, -toNumber(today ?? "0")), true))
  const drawdown = num(limits.max_drawdown_fraction)
  if (drawdown !== null && capital > 0) {
    const lost = Math.max(0, (capital - toNumber(figures.equity)) / capital)
    out.push(room("Drawdown", drawdown, lost, false))
  }
  return out
}
