import { describe, expect, it } from "vitest"

import { candleInterval, markersOnBars } from "../tradeMarkers"

describe("markersOnBars", () => {
  it("puts trades on their bar and counts several trades of a side on one bar", () => {
    const bars = [0, 3600, 7200]
    const trades = [
      { time: 100, side: "buy" as const },
      { time: 200, side: "sell" as const },
      { time: 300, side: "buy" as const },
      { time: 3700, side: "sell" as const },
      { time: 9000, side: "buy" as const },
    ]
    expect(markersOnBars(bars, trades).map((m) => [m.time, m.text])).toEqual([
      [0, "B×2"],
      [0, "S"],
      [3600, "S"],
      [7200, "B"],
    ])
  })

  it("keeps 800 trades readable: one marker per bar and side, none lost", () => {
    const bars = Array.from({ length: 336 }, (_, i) => i * 3600)
    const trades = Array.from({ length: 800 }, (_, i) => ({ time: i * 1500, side: i % 2 ? ("sell" as const) : ("buy" as const) }))
    const markers = markersOnBars(bars, trades)
    expect(markers.length).toBeLessThanOrEqual(2 * 336)
    expect(markers.reduce((n, m) => n + m.count, 0)).toBe(800)
  })

  it("chooses candles by the run's length", () => {
    expect(candleInterval(14)).toBe("1h")
    expect(candleInterval(2)).toBe("15m")
    expect(candleInterval(200)).toBe("4h")
  })
})
