/** The emergency-stop call (generated client), read into the report the dialog shows. */
import { unwrap } from "@/api/errors"
import { floorEmergencyStop } from "@/client/sdk.gen"

import type { StopReport, StopScope } from "./estop"

export async function emergencyStop(body: { scope: StopScope; flatten: boolean; reason: string | null }): Promise<StopReport> {
  const raw = await unwrap(floorEmergencyStop({ body }))
  return { orders: raw.actions, halted: raw.deployments, summary: raw.summary, complete: raw.complete }
}
