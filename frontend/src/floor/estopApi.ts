/**
 * The emergency-stop call. Until the route is in the generated client this posts through the
 * generated client's transport with the expected shape; see DEVELOPMENT.md.
 */
import { unwrap } from "@/api/errors"
import { client } from "@/client/client.gen"

import type { StopReport, StopScope } from "./estop"

export async function emergencyStop(body: { scope: StopScope; flatten: boolean; reason: string | null }): Promise<StopReport> {
  const raw = await unwrap(client.post<{ 200: Record<string, unknown> }, unknown, false>({ url: "/api/v1/floor/emergency-stop", body, headers: { "Content-Type": "application/json" } }))
  return { orders: (raw.orders as StopReport["orders"]) ?? [], halted: (raw.halted as string[]) ?? (raw.deployments_halted as string[]) ?? [] }
}
