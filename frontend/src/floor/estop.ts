/**
 * Emergency stop: what the confirmation promises and how the report is read.
 *
 * Rules kept here: the confirmation names exactly what will happen for the chosen scope
 * and flatten option; the report lists every order the stop touched, with the ones that could
 * not be confirmed (`unconfirmed`) or failed first, because those need a human.
 */

export type StopScope = "mine" | "everyone"

export interface StopOrderReport {
  order_id: string | null
  deployment_id: string | null
  coin: string
  side: string
  action: string
  outcome: "confirmed" | "failed" | "unconfirmed" | string
  detail: string | null
}

export interface HaltedDeployment {
  deployment_id: string
  name: string
  mode: string
  previous_status: string
  status: string
  detail: string
}

export interface StopReport {
  orders: StopOrderReport[]
  halted: HaltedDeployment[]
  /** The server's one-sentence account of what it did. */
  summary: string
  complete: boolean
}

export function promises(scope: StopScope, flatten: boolean, running: number): string[] {
  const who = scope === "everyone" ? "every user's deployments (superuser)" : `your ${running} running deployment${running === 1 ? "" : "s"}`
  const lines = [
    `Halt ${who} at once: no new orders are placed.`,
    "Cancel every open order on Coinspot and on paper.",
  ]
  lines.push(
    flatten
      ? "Sell every coin the deployments hold at the market price now (flatten), which can cost spread and fees."
      : "Keep the coins held: positions stay as they are.",
  )
  lines.push("Halted deployments stay halted until you activate them again.")
  return lines
}

const RANK: Record<string, number> = { unconfirmed: 0, failed: 1 }

/** Orders needing attention first (unconfirmed, then failed), then the confirmed ones. */
export function sortReport(orders: StopOrderReport[]): StopOrderReport[] {
  return [...orders].sort((a, b) => (RANK[a.outcome] ?? 2) - (RANK[b.outcome] ?? 2))
}

export function summary(report: StopReport): { confirmed: number; failed: number; unconfirmed: number; halted: number } {
  const count = (o: string) => report.orders.filter((r) => r.outcome === o).length
  return { confirmed: count("confirmed"), failed: count("failed"), unconfirmed: count("unconfirmed"), halted: report.halted.length }
}
