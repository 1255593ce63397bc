/**
 * Reconciliation calls (backend app/floor/reconciliation/routes.py). Until the routes are in
 * the generated client these go through the generated client's transport with their shapes.
 */
import { unwrap } from "@/api/errors"
import { client } from "@/client/client.gen"

export interface ReconciliationRun {
  id: string
  trigger: string
  node: string
  outcome: string
  counts: Record<string, unknown>
  error: string | null
  started_at: string
  finished_at: string | null
}

export interface ReconciliationBreak {
  id: string
  kind: string
  coin: string | null
  deployment_id: string | null
  order_id: string | null
  ours: string | null
  theirs: string | null
  message: string
  detail: Record<string, unknown>
  blocking: boolean
  status: string
  first_seen_at: string
  last_seen_at: string
  resolution_action: string | null
  resolution_note: string | null
  resolved_by: string | null
  resolved_at: string | null
}

export interface ReconciliationOverview {
  runs: ReconciliationRun[]
  breaks: ReconciliationBreak[]
  count: number
  blocked: string | null
}

export type BreakAction = "adopt" | "ignore" | "close"

export function readReconciliation(status: "open" | "resolved" | "all" = "open"): Promise<ReconciliationOverview> {
  return unwrap(client.get<{ 200: ReconciliationOverview }, unknown, false>({ url: "/api/v1/floor/reconciliation", query: { status, runs: 5 } }))
}

export function runReconciliation(): Promise<ReconciliationRun> {
  return unwrap(client.post<{ 200: ReconciliationRun }, unknown, false>({ url: "/api/v1/floor/reconciliation/run" }))
}

export function resolveBreak(id: string, action: BreakAction, note: string | null): Promise<ReconciliationBreak> {
  return unwrap(
    client.post<{ 200: ReconciliationBreak }, unknown, false>({
      url: `/api/v1/floor/reconciliation/breaks/${encodeURIComponent(id)}/resolve`,
      body: { action, note },
      headers: { "Content-Type": "application/json" },
    }),
  )
}
