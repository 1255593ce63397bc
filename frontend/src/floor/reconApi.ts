/** Reconciliation calls (generated client; backend app/floor/reconciliation/routes.py). */
import { unwrap } from "@/api/errors"
import type { ReconciliationBreakPublic, ReconciliationOverview, ReconciliationRunPublic } from "@/client"
import { floorReconciliationOverview, floorResolveReconciliationBreak, floorRunReconciliation } from "@/client/sdk.gen"

export type ReconciliationBreak = ReconciliationBreakPublic
export type BreakAction = "adopt" | "ignore" | "close"

export function readReconciliation(status: "open" | "resolved" | "all" = "open"): Promise<ReconciliationOverview> {
  return unwrap(floorReconciliationOverview({ query: { status, runs: 5 } }))
}

export function runReconciliation(): Promise<ReconciliationRunPublic> {
  return unwrap(floorRunReconciliation())
}

export function resolveBreak(id: string, action: BreakAction, note: string | null): Promise<ReconciliationBreakPublic> {
  return unwrap(floorResolveReconciliationBreak({ path: { break_id: id }, body: { action, note } }))
}
