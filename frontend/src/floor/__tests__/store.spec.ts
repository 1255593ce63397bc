import { createPinia, setActivePinia } from "pinia"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"

import { toLiveEvent, type LiveEvent } from "../events"
import { effectsOf, FLOOR_KEYS, useFloorStore, type Notice } from "../store"

function ev(seq: number, kind: string, payload: Record<string, unknown>): LiveEvent {
  return toLiveEvent({ seq, kind, broadcast: false, created_at: "2026-12-01T10:00:00Z", payload })!
}
const fill = (seq: number, id = `f${seq}`) =>
  ev(seq, "fill", { fill_id: id, order_id: "o1", deployment_id: "d1", coin: "BTC", side: "buy", amount: "0.01000000", price: "100123.456", fee: "1.0012", filled_at: "2026-12-01T10:00:00Z" })

describe("floor store", () => {
  let invalidated: string[][]
  let notices: Notice[]
  beforeEach(() => {
    vi.useFakeTimers()
    setActivePinia(createPinia())
    invalidated = []
    notices = []
  })
  afterEach(() => vi.useRealTimers())

  function store() {
    const s = useFloorStore()
    // Wire the sinks without a socket: connect() with a token-less options set stays closed.
    s.connect({ invalidate: (keys) => invalidated.push(...keys.map((k) => [...k])), notify: (n) => notices.push(n) }, { url: "ws://x/api/v1/ws", token: () => null })
    return s
  }

  it("applies a fill once, tells the user, and refetches trades, positions and P&L in one batch", () => {
    const s = store()
    s.apply(fill(1))
    s.apply(fill(2, "f1")) // the same fill again (e.g. a replay): kept once
    expect(s.fills.map((f) => f.fill_id)).toEqual(["f1"])
    expect(invalidated).toEqual([])
    vi.advanceTimersByTime(250)
    const keys = invalidated.map((k) => k.join("/"))
    expect(keys).toContain("floor/trades")
    expect(keys).toContain("floor/positions")
    expect(keys).toContain("floor/pnl-summary")
    // The deployment page's queries too.
    expect(keys).toContain("floor/fills")
    expect(keys).toContain("floor/runs")
    expect(new Set(keys).size).toBe(keys.length)
    expect(notices[0]).toEqual({ severity: "success", summary: "Bought 0.01 BTC", detail: "at $100,123.46, fee $1.00" })
    expect(s.lastSeq).toBe(2)
  })

  it("refetches the Lab's job queries when a backtest or sweep changes status, and tells a finish", () => {
    const s = store()
    s.apply(ev(6, "lab.job", { job: "backtest", job_id: "r1", algorithm_id: "a1", status: "running", stage: "starting" }))
    expect(notices).toHaveLength(0)
    vi.advanceTimersByTime(250)
    expect(invalidated.map((k) => k.join("/")).sort()).toEqual(["backtest", "backtests", "sweep", "sweeps"])
    s.apply(ev(7, "lab.job", { job: "backtest", job_id: "r1", algorithm_id: "a1", status: "succeeded", stage: "done" }))
    s.apply(ev(8, "lab.job", { job: "sweep", job_id: "s1", algorithm_id: "a1", status: "failed", stage: "failed" }))
    expect(notices).toEqual([
      { severity: "success", summary: "Backtest finished", detail: "Its results are ready." },
      { severity: "error", summary: "Sweep failed", detail: "Open it to see why." },
    ])
  })

  it("tracks order states and warns about rejected and unknown orders", () => {
    const s = store()
    s.apply(ev(3, "order.submitted", { order_id: "o1", coin: "ETH", side: "sell", status: "submitting" }))
    expect(notices).toHaveLength(0)
    s.apply(ev(4, "order.unknown", { order_id: "o1", coin: "ETH", side: "sell", status: "unknown" }))
    expect(s.orders.o1!.status).toBe("unknown")
    expect(notices[0]!.severity).toBe("warn")
    s.apply(ev(5, "order.rejected", { order_id: "o2", coin: "ETH", side: "buy", status: "rejected", reason: "insufficient funds" }))
    expect(notices[1]).toMatchObject({ severity: "error", detail: "insufficient funds" })
  })

  it("records deployment statuses, P&L and prices", () => {
    const s = store()
    s.apply(ev(6, "deployment.status", { deployment_id: "d1", status: "paused", previous: "active" }))
    expect(s.statusOf("d1", "active")).toBe("paused")
    expect(s.statusOf("d2", "active")).toBe("active")
    s.apply(ev(7, "pnl.update", { deployment_id: null, realised: "1", unrealised: "2", fees: "0.1", equity: "1002.9", as_of: "2026-12-01T10:00:00Z" }))
    expect(s.pnl.account!.equity).toBe("1002.9")
    s.apply(ev(8, "price.update", { slot: "2026-12-01T10:00:00Z", prices: [{ coin: "BTC", bid: "1", ask: "2", last: "1.5" }] }))
    expect(s.prices.BTC!.ask).toBe("2")
  })

  it("says a limit breach out loud once and refreshes limits", () => {
    const s = store()
    s.apply(ev(9, "risk.breach", { scope: "deployment", deployment_id: "d1", limit: "daily_loss_aud", action: "halted", coin: "BTC", side: "buy", message: "Daily loss limit reached" }))
    s.apply(ev(10, "alert", { alert_id: "a", kind: "limit_breach", key: "d1", message: "Daily loss limit reached", severity: "critical", count: 1, read: false }))
    expect(notices).toEqual([{ severity: "error", summary: "Limit breached: BTC", detail: "Daily loss limit reached" }])
    vi.advanceTimersByTime(250)
    expect(invalidated).toContainEqual([...FLOOR_KEYS.alerts])
    expect(invalidated).toContainEqual([...FLOOR_KEYS.limits])
  })

  it("tells other alerts by their severity", () => {
    const s = store()
    s.apply(ev(11, "alert", { alert_id: "b", kind: "drawdown", key: "d1", message: "Drawdown 12 %", severity: "warning", count: 1, read: false }))
    expect(notices[0]).toMatchObject({ severity: "warn", summary: "Alert", detail: "Drawdown 12 %" })
  })

  it("connects through the socket, refetches what may have changed, and applies live events", () => {
    const sent: string[] = []
    let socket: { onopen: (() => void) | null; onmessage: ((e: { data: unknown }) => void) | null } | null = null
    const s = useFloorStore()
    s.connect(
      { invalidate: (keys) => invalidated.push(...keys.map((k) => [...k])), notify: (n) => notices.push(n) },
      {
        url: "ws://x/api/v1/ws",
        token: () => "jwt",
        createSocket: () => {
          const fake = { readyState: 1, onopen: null, onmessage: null, onclose: null, onerror: null, send: (d: string) => sent.push(d), close: () => undefined }
          socket = fake
          return fake
        },
      },
    )
    socket!.onopen!()
    expect(JSON.parse(sent[0]!)).toEqual({ token: "jwt" })
    socket!.onmessage!({ data: JSON.stringify({ type: "welcome", last_seq: 7 }) })
    expect(s.connection).toBe("open")
    vi.advanceTimersByTime(250)
    expect(invalidated).toContainEqual([...FLOOR_KEYS.orders])
    socket!.onmessage!({ data: JSON.stringify({ type: "event", seq: 8, kind: "fill", broadcast: false, created_at: "", payload: (fill(8) as { payload: object }).payload }) })
    expect(s.fills).toHaveLength(1)
    expect(notices[0]!.summary).toBe("Bought 0.01 BTC")
    s.disconnect()
    expect(s.connection).toBe("stopped")
  })
})

describe("alerts that repeat an order event", () => {
  it("make no second toast for an order problem", () => {
    const event = toLiveEvent({ seq: 1, kind: "alert", broadcast: false, created_at: "", payload: { alert_id: "a", kind: "order_problem", key: "k", message: "m", severity: "critical", count: 1, read: false } })!
    expect(effectsOf(event)).toEqual({ stale: ["alerts"], notice: null })
  })
})
