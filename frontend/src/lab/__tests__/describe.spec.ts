import { describe, expect, it } from "vitest"

import { describeParameters, describeSettings } from "../describe"

describe("runs in words", () => {
  it("writes parameters as words, not JSON", () => {
    expect(describeParameters({ fast: 6, slow: 48, source: "last" })).toBe("fast 6 · slow 48 · source last")
    expect(describeParameters({ max_depth: 3 })).toBe("max depth 3")
    expect(describeParameters({})).toBe("no parameters")
  })

  it("writes the settings that change a result", () => {
    expect(describeSettings({ starting_cash: 10000, fee_rate: 0.001, slippage_bps: 5, min_order_aud: 0 }).map((r) => `${r.label}: ${r.text}`)).toEqual([
      "Starting cash: $10,000.00",
      "Fee: 0.1 %",
      "Slippage: 5 bps",
    ])
  })
})
