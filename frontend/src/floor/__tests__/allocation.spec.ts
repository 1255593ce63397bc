import { describe, expect, it } from "vitest"

import { slices } from "../allocation"

describe("allocation pie", () => {
  it("orders slices by value, folds tiny ones into Other and sums to one", () => {
    const s = slices([
      { label: "ETH", value: 300 },
      { label: "BTC", value: 690 },
      { label: "DOGE", value: 10 },
      { label: "XRP", value: 0 },
    ])
    expect(s.map((x) => x.label)).toEqual(["BTC", "ETH", "Other"])
    expect(s.reduce((t, x) => t + x.share, 0)).toBeCloseTo(1, 12)
    expect(s[0]!.path.startsWith("M 50 50")).toBe(true)
  })

  it("draws one full circle for a single holding and nothing for an empty portfolio", () => {
    expect(slices([{ label: "AUD", value: 5 }])[0]!.path).toContain("A 50 50 0 1 1")
    expect(slices([])).toEqual([])
  })
})
