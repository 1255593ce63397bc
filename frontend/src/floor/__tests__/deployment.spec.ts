import { describe, expect, it } from "vitest"

import { decisionRows, describeTimings, formatAud, formatQuantity, isUnknown, statusActions, summariseDrift } from "../deployment"

describe("deployment records in words", () => {
  it("formats money to the cent and quantities to 8 decimals, a missing figure as a dash", () => {
    expect(formatAud("1234.5")).toBe("$1,234.50")
    expect(formatAud(null)).toBe("—")
    expect(formatAud("not a number")).toBe("—")
    expect(formatQuantity("0.00012345")).toBe("0.00012345")
  })

  it("describes each coin's decision of a cycle", () => {
    const rows = decisionRows({
      decisions: {
        BTC: { target: "1", action: "order", side: "buy", quantity: "0.0105", status: "filled" },
        ETH: { target: "0", action: "skipped_below_minimum", detail: "order below 5 AUD" },
      },
    })
    expect(rows[0]).toEqual({ coin: "BTC", action: "order", target: "100 %", detail: "", order: "buy 0.0105 BTC → filled" })
    expect(rows[1]).toMatchObject({ action: "skipped below minimum", target: "0 %", detail: "order below 5 AUD" })
  })

  it("lists the timings in milliseconds and ignores the rest", () => {
    expect(describeTimings({ prepare_ms: 12.345, total_ms: 80, resolved: { a: "filled" } })).toBe("prepare 12.3 ms · total 80 ms")
    expect(describeTimings({})).toBe("—")
  })

  it("flags unknown orders", () => {
    expect(isUnknown({ status: "unknown" })).toBe(true)
    expect(isUnknown({ status: "filled" })).toBe(false)
  })

  it("reads the drift report, and one with nothing decided yet", () => {
    const s = summariseDrift({
      live_equity: 1010.5,
      backtest_equity: 1000,
      drift: 0.0105,
      threshold: 0.05,
      alert: false,
      slippage_aud: 0.2,
      fee_drift_aud: -0.01,
      matched: 1,
      differing: 1,
      fills: [{ coin: "BTC", bar: "2026-12-01T00:00:00+00:00", status: "differs", live: { side: "buy", quantity: "0.01", price: "100000" }, backtest: { side: "buy", quantity: 0.01, price: 99990 } }],
    })
    expect(s).toMatchObject({ decided: true, liveEquity: "$1,010.50", backtestEquity: "$1,000.00", drift: "1.05 %", alert: false, matched: 1 })
    expect(s.fills[0]!.live).toBe("buy 0.01 BTC @ $100,000.00")
    const empty = summariseDrift({ detail: "the deployment has not decided yet", fills: [], alert: false })
    expect(empty.decided).toBe(false)
    expect(empty.liveEquity).toBe("—")
  })

  it("offers the status changes that make sense", () => {
    expect(statusActions("active")).toEqual(["pause", "deactivate"])
    expect(statusActions("paused")).toEqual(["activate", "deactivate"])
    expect(statusActions("stopped")).toEqual([])
  })
})
