import { describe, expect, it } from "vitest"

import { filterTrades, NO_FILTER, tradesCsv, type TradeRow } from "../trades"

const row = (over: Partial<TradeRow>): TradeRow => ({
  id: "t",
  order_id: "o",
  deployment_id: "d1",
  deployment: "Alpha",
  mode: "paper",
  coin: "BTC",
  side: "buy",
  quantity: "0.01000000",
  price: "100000.12345",
  fee: "1.00000001",
  gst: "0.1",
  total_aud: "1001.1",
  time: "2026-12-01T13:30:00Z",
  source: "paper",
  ...over,
})

describe("trade history", () => {
  const rows = [row({ id: "a" }), row({ id: "b", coin: "ETH", side: "sell", deployment_id: "d2" }), row({ id: "c", time: "2026-11-28T01:00:00Z" })]

  it("filters by deployment, coin, side and day in the profile's zone", () => {
    expect(filterTrades(rows, NO_FILTER, "UTC").map((r) => r.id)).toEqual(["a", "b", "c"])
    expect(filterTrades(rows, { ...NO_FILTER, deployment: "d2" }, "UTC").map((r) => r.id)).toEqual(["b"])
    expect(filterTrades(rows, { ...NO_FILTER, coin: "BTC", side: "buy" }, "UTC").map((r) => r.id)).toEqual(["a", "c"])
    expect(filterTrades(rows, { ...NO_FILTER, from: "2026-12-01", to: "2026-12-01" }, "UTC").map((r) => r.id)).toEqual(["a", "b"])
    // 13:30 UTC on 1 Dec is 00:30 on 2 Dec in Sydney.
    expect(filterTrades(rows, { ...NO_FILTER, from: "2026-12-02" }, "Australia/Sydney").map((r) => r.id)).toEqual(["a", "b"])
    expect(filterTrades(rows, { ...NO_FILTER, to: "2026-11-30" }, "UTC").map((r) => r.id)).toEqual(["c"])
  })

  it("writes a CSV with the exact decimals and safe text", () => {
    const csv = tradesCsv([row({ deployment: '=HYPERLINK("x"), "q"' })])
    const [header, line] = csv.trim().split("\r\n")
    expect(header).toBe("time_utc,deployment,mode,coin,side,quantity,price_aud,fee_aud_ex_gst,gst_aud,total_aud,source,order_id,trade_id")
    expect(line).toContain("0.01000000,100000.12345,1.00000001,0.1,1001.1")
    expect(line!.startsWith("2026-12-01T13:30:00.000Z,\"'=HYPERLINK(\"\"x\"\"), \"\"q\"\"\"")).toBe(true)
  })
})
