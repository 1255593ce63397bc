/**
 * The Floor's live state: what the WebSocket said, applied to what the pages show.
 *
 * Rules kept here:
 * - one connection per signed-in tab (`connect` is idempotent; signing out stops it);
 * - each event updates the small live state below (connection, prices, order states, recent
 *   fills, P&L, deployment statuses) and marks the server data it changes as stale, so the
 *   pages' queries refetch it: the page shows the server's figures, never ones added up here;
 * - stale marks are gathered for a moment and sent as one batch (a replay of 500 events is
 *   one refetch per query, not 500);
 * - fills, rejections, unknown orders and limit breaches are told to the user (toasts) once,
 *   and never for replayed history older than the connection.
 */
import { defineStore } from "pinia"
import { ref } from "vue"

import { kindName, type FillPayload, type LiveEvent, type OrderPayload, type PnlPayload } from "./events"
import { formatQuantity, formatRate } from "./format"
import { LiveConnection, type ConnectionState, type LiveOptions } from "./live"

/** Query keys of the server data live events change; every Floor query key starts with one of
 * these (and the Lab's job queries with one of the `lab…` ones). */
export const FLOOR_KEYS = {
  algorithms: ["floor", "algorithms"],
  summary: ["floor", "pnl-summary"],
  history: ["floor", "pnl-history"],
  positions: ["floor", "positions"],
  trades: ["floor", "trades"],
  orders: ["floor", "orders"],
  status: ["floor", "status"],
  deployments: ["floor", "deployments"],
  reconciliation: ["floor", "reconciliation"],
  limits: ["floor", "limits"],
  // A deployment's page (DeploymentView.vue): the deployment, its runs, fills and curves.
  deployment: ["floor", "deployment"],
  runs: ["floor", "runs"],
  fills: ["floor", "fills"],
  equity: ["floor", "equity"],
  performance: ["floor", "performance"],
  drift: ["floor", "drift"],
  alerts: ["alerts"],
  // The Lab's jobs (BacktestView, SweepView, AlgorithmView, PromotePanel): a `lab.job` event
  // says one was claimed or finished, so the pages fetch it at once instead of at their next poll.
  labBacktest: ["backtest"],
  labBacktests: ["backtests"],
  labSweep: ["sweep"],
  labSweeps: ["sweeps"],
} as const
export type FloorKey = keyof typeof FLOOR_KEYS

export interface Notice {
  severity: "success" | "info" | "warn" | "error"
  summary: string
  detail: string
}

export interface Sinks {
  invalidate: (keys: ReadonlyArray<readonly string[]>) => void
  notify: (notice: Notice) => void
}

const RECENT_FILLS = 200
const FLUSH_MS = 200

/** What an event makes stale, and what the user should be told about it. */
export function effectsOf(event: LiveEvent): { stale: FloorKey[]; notice: Notice | null } {
  const name = kindName(event)
  switch (event.kind) {
    case "price.update":
      return { stale: ["algorithms", "summary", "positions"], notice: null }
    case "fill": {
      const p = event.payload
      return {
        stale: ["trades", "positions", "summary", "history", "algorithms", "orders", "status", "fills", "runs", "deployment"],
        notice: {
          severity: "success",
          summary: `${p.side === "buy" ? "Bought" : "Sold"} ${formatQuantity(p.amount)} ${p.coin}`,
          detail: `at ${formatRate(p.price)}, fee ${formatRate(p.fee)}`,
        },
      }
    }
    case "deployment.status":
      return { stale: ["algorithms", "deployments", "deployment", "status", "limits"], notice: null }
    case "pnl.update":
      // Sent when a deployment had fills or finished a cycle: its orders may have moved too.
      return { stale: ["summary", "algorithms", "history", "orders", "positions", "status", "runs", "equity", "performance", "drift"], notice: null }
    case "alert": {
      const p = event.payload
      const breach = p.kind === "limit_breach"
      // Order problems and limit breaches are told by their own events (order.rejected,
      // order.unknown, risk.breach): the alert that repeats them makes no second toast.
      if (p.kind === "order_problem") return { stale: ["alerts"], notice: null }
      if (breach) return { stale: ["alerts", "algorithms", "limits", "status"], notice: null }
      const severity = breach || p.severity === "critical" || p.severity === "error" ? "error" : p.severity === "warning" ? "warn" : "info"
      return { stale: ["alerts", ...(breach ? (["algorithms", "limits", "status"] as FloorKey[]) : [])], notice: { severity, summary: breach ? "Limit breached" : "Alert", detail: p.message } }
    }
    case "other":
      if (name === "lab.job") {
        const p = event.payload
        const what = p.job === "sweep" ? "Sweep" : "Backtest"
        const notice: Notice | null =
          p.status === "succeeded"
            ? { severity: "success", summary: `${what} finished`, detail: "Its results are ready." }
            : p.status === "failed"
              ? { severity: "error", summary: `${what} failed`, detail: "Open it to see why." }
              : null
        return { stale: ["labBacktest", "labBacktests", "labSweep", "labSweeps"], notice }
      }
      if (name === "risk.breach") {
        const p = event.payload
        const message = typeof p.message === "string" && p.message ? p.message : `${String(p.limit ?? "A limit")} refused an order.`
        return {
          stale: ["algorithms", "deployments", "deployment", "limits", "status", "orders", "runs"],
          notice: { severity: "error", summary: `Limit breached${typeof p.coin === "string" ? `: ${p.coin}` : ""}`, detail: message },
        }
      }
      if (name === "account.status" || name === "floor.emergency_stop") {
        return { stale: ["algorithms", "deployments", "deployment", "limits", "status", "orders", "positions", "summary", "trades", "fills"], notice: null }
      }
      if (name.startsWith("reconciliation")) return { stale: ["reconciliation", "orders", "status"], notice: null }
      if (name.includes("limit")) return { stale: ["limits", "algorithms"], notice: null }
      return { stale: ["algorithms", "status"], notice: null }
    default: {
      // order.*
      const p = event.payload as OrderPayload
      const stale: FloorKey[] = ["orders", "status", "algorithms", "runs"]
      if (p.status === "rejected") {
        return { stale, notice: { severity: "error", summary: `Order rejected: ${p.side} ${p.coin}`, detail: p.reason || "The order was refused." } }
      }
      if (p.status === "unknown") {
        return {
          stale,
          notice: { severity: "warn", summary: `Order outcome unknown: ${p.side} ${p.coin}`, detail: "It will not be sent again; it is being checked against Coinspot's records." },
        }
      }
      return { stale, notice: null }
    }
  }
}

export const useFloorStore = defineStore("floor", () => {
  const connection = ref<ConnectionState>("idle")
  const lastSeq = ref<number | null>(null)
  const lastEventAt = ref<string | null>(null)
  const prices = ref<Record<string, { bid: string; ask: string; last: string; slot: string }>>({})
  const orders = ref<Record<string, OrderPayload & { seq: number }>>({})
  const fills = ref<Array<FillPayload & { seq: number }>>([])
  const pnl = ref<Record<string, PnlPayload>>({})
  const deploymentStatus = ref<Record<string, string>>({})
  /** Events applied since the page loaded (for the monitoring panel and tests). */
  const applied = ref(0)

  let sinks: Sinks | null = null
  let live: LiveConnection | null = null
  let pending = new Set<FloorKey>()
  let flushTimer: ReturnType<typeof setTimeout> | null = null
  /** The server's newest event when we first connected: older replayed events make no toast. */
  let quietUpTo = 0

  function flush(): void {
    flushTimer = null
    const keys = [...pending].map((k) => FLOOR_KEYS[k])
    pending = new Set()
    if (keys.length) sinks?.invalidate(keys)
  }

  function markStale(keys: FloorKey[]): void {
    keys.forEach((k) => pending.add(k))
    if (flushTimer === null) flushTimer = setTimeout(flush, FLUSH_MS)
  }

  /** Apply one event to the live state, mark what it changes stale and tell the user. */
  function apply(event: LiveEvent): void {
    applied.value += 1
    lastSeq.value = Math.max(lastSeq.value ?? 0, event.seq)
    lastEventAt.value = event.created_at || new Date().toISOString()
    switch (event.kind) {
      case "price.update":
        for (const p of event.payload.prices) prices.value[p.coin] = { bid: p.bid, ask: p.ask, last: p.last, slot: event.payload.slot }
        break
      case "fill":
        if (!fills.value.some((f) => f.fill_id === event.payload.fill_id)) {
          fills.value = [{ ...event.payload, seq: event.seq }, ...fills.value].slice(0, RECENT_FILLS)
        }
        break
      case "deployment.status":
        deploymentStatus.value[event.payload.deployment_id] = event.payload.status
        break
      case "pnl.update":
        pnl.value[event.payload.deployment_id ?? "account"] = event.payload
        break
      case "alert":
      case "other":
        break
      default:
        orders.value[event.payload.order_id] = { ...(event.payload as OrderPayload), seq: event.seq }
    }
    const { stale, notice } = effectsOf(event)
    markStale(stale)
    if (notice && event.seq > quietUpTo) sinks?.notify(notice)
  }

  /** Open the live connection (once) and send its effects to `target`. */
  function connect(target: Sinks, options: Omit<LiveOptions, "onEvent" | "onState" | "onConnected">): LiveConnection {
    sinks = target
    if (live && live.state !== "stopped") return live
    live = new LiveConnection({
      ...options,
      onEvent: apply,
      onState: (state) => {
        connection.value = state
      },
      onConnected: ({ resumed, serverSeq }) => {
        if (!resumed) {
          quietUpTo = Math.max(quietUpTo, serverSeq)
          // What changed between the pages' first fetch and this connection: fetch it again.
          markStale(["algorithms", "summary", "positions", "orders", "trades", "status", "alerts"])
        }
      },
    })
    live.start()
    return live
  }

  function disconnect(): void {
    live?.stop()
    live = null
    connection.value = "stopped"
  }

  /** The deployment's status as last announced live (the server's list may lag a moment). */
  function statusOf(deploymentId: string, fallback: string): string {
    return deploymentStatus.value[deploymentId] ?? fallback
  }

  return { connection, lastSeq, lastEventAt, prices, orders, fills, pnl, deploymentStatus, applied, apply, connect, disconnect, statusOf, flush }
})
