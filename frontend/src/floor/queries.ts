/**
 * The Floor's server data as vue-query queries, under the keys the live store marks stale.
 *
 * Rules kept here: every call goes through the generated client; a query key starts with its
 * `FLOOR_KEYS` entry so an event refreshes it; lists across deployments are fetched per
 * deployment (the API is per deployment) and merged newest first.
 */
import { useQuery } from "@tanstack/vue-query"
import { computed, type Ref } from "vue"

import { unwrap } from "@/api/errors"
import type { DeploymentPublic, OrderPublic, Period } from "@/client"
import {
  floorAccountPositions,
  floorFloorStatus,
  floorListOrders,
  floorListTrades,
  floorPnlByDeployment,
  floorPnlHistory,
  floorPnlSummary,
  floorReadDeployments,
  floorRunningAlgorithms,
} from "@/client/sdk.gen"

import { FLOOR_KEYS } from "./store"
import type { TradeRow } from "./trades"

/** Orders still in play: sent or about to be, or with an outcome nobody knows yet. */
export const OPEN_STATUSES = new Set(["intent", "submitting", "open", "partially_filled", "unknown"])

export function useRunning() {
  return useQuery({ queryKey: [...FLOOR_KEYS.algorithms], queryFn: () => unwrap(floorRunningAlgorithms()) })
}

export function useDeployments() {
  return useQuery({ queryKey: [...FLOOR_KEYS.deployments], queryFn: () => unwrap(floorReadDeployments({ query: { limit: 100 } })) })
}

export function useSummary(period: Period) {
  return useQuery({ queryKey: [...FLOOR_KEYS.summary, period], queryFn: () => unwrap(floorPnlSummary({ query: { period } })) })
}

export function usePnlByDeployment(period: Period) {
  return useQuery({ queryKey: [...FLOOR_KEYS.summary, "by-deployment", period], queryFn: () => unwrap(floorPnlByDeployment({ query: { period } })) })
}

export function usePositions() {
  return useQuery({ queryKey: [...FLOOR_KEYS.positions], queryFn: () => unwrap(floorAccountPositions()) })
}

export function useFloorStatus() {
  return useQuery({ queryKey: [...FLOOR_KEYS.status], queryFn: () => unwrap(floorFloorStatus()) })
}

export const PERIODS: Array<{ label: string; period: Period; interval: "5m" | "1h" | "1d" }> = [
  { label: "1D", period: "today", interval: "5m" },
  { label: "7D", period: "7d", interval: "1h" },
  { label: "30D", period: "30d", interval: "1h" },
  { label: "All", period: "all", interval: "1d" },
]

export function useHistory(choice: Ref<(typeof PERIODS)[number]>) {
  return useQuery({
    queryKey: computed(() => [...FLOOR_KEYS.history, choice.value.period, choice.value.interval]),
    queryFn: () => unwrap(floorPnlHistory({ query: { period: choice.value.period, interval: choice.value.interval } })),
  })
}

/** Open and unknown orders of every deployment (and settled ones that were unknown), newest first. */
export function useOpenOrders(deployments: Ref<DeploymentPublic[]>) {
  return useQuery({
    queryKey: computed(() => [...FLOOR_KEYS.orders, "open", deployments.value.map((d) => d.id)]),
    enabled: computed(() => deployments.value.length > 0),
    queryFn: async () => {
      const pages = await Promise.all(
        deployments.value.map(async (d) => ({ d, page: await unwrap(floorListOrders({ path: { deployment_id: d.id }, query: { limit: 100 } })) })),
      )
      const rows: Array<OrderPublic & { deployment: DeploymentPublic }> = []
      // Orders in play, and orders that were once `unknown` (with how they were resolved).
      for (const { d, page } of pages) for (const o of page.data) if (OPEN_STATUSES.has(o.status) || o.unknown_at) rows.push({ ...o, deployment: d })
      return rows.sort((a, b) => b.created_at.localeCompare(a.created_at))
    },
  })
}

/** Recent fills of every deployment, newest first (up to 500 per deployment). */
export function useTrades(deployments: Ref<DeploymentPublic[]>) {
  return useQuery({
    queryKey: computed(() => [...FLOOR_KEYS.trades, "all", deployments.value.map((d) => d.id)]),
    enabled: computed(() => deployments.value.length > 0),
    queryFn: async () => {
      const pages = await Promise.all(
        deployments.value.map(async (d) => ({ d, page: await unwrap(floorListTrades({ path: { deployment_id: d.id }, query: { limit: 500 } })) })),
      )
      const rows: TradeRow[] = []
      for (const { d, page } of pages) {
        for (const t of page.data) {
          rows.push({
            id: t.id,
            order_id: t.order_id,
            deployment_id: d.id,
            deployment: d.name,
            mode: d.mode,
            coin: t.coin,
            side: t.side,
            quantity: t.quantity,
            price: t.price,
            fee: t.fee,
            gst: t.gst,
            total_aud: t.total_aud,
            time: t.exchange_time ?? t.created_at,
            source: t.source,
          })
        }
      }
      return rows.sort((a, b) => b.time.localeCompare(a.time))
    },
  })
}
