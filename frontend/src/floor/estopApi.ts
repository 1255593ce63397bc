/**
 * The emergency-stop call, read into the report the dialog shows. Until the route is in the
 * generated client this posts through the generated client's transport with the route's shape
 * (backend app/floor/emergency_routes.py: EmergencyStopRequest -> EmergencyStopReport).
 */
import { unwrap } from "@/api/errors"
import { client } from "@/client/client.gen"

import type { HaltedDeployment, StopOrderReport, StopReport, StopScope } from "./estop"

interface RawReport {
  deployments?: HaltedDeployment[]
  actions?: StopOrderReport[]
  summary?: string
  complete?: boolean
}

export async function emergencyStop(body: { scope: StopScope; flatten: boolean; reason: string | null }): Promise<StopReport> {
  const raw = await unwrap(client.post<{ 200: RawReport }, unknown, false>({ url: "/api/v1/floor/emergency-stop", body, headers: { "Content-Type": "application/json" } }))
  return { orders: raw.actions ?? [], halted: raw.deployments ?? [], summary: raw.summary ?? "", complete: raw.complete ?? false }
}
