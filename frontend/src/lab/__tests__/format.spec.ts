import { describe, expect, it } from "vitest"

import { bestIndexes, formatChange, formatMetric, formatPrice } from "../format"

describe("formatMetric", () => {
  it("formats each kind", () => {
    expect(formatMetric(0.12345, "percent")).toBe("12.35%")
    expect(formatMetric(-0.5, "percent")).toBe("-50.00%")
    expect(formatMetric(1.23456, "ratio")).toBe("1.23")
    expect(formatMetric(1234.5, "money")).toBe("$1,234.50")
    expect(formatMetric(41.6, "count")).toBe("42")
    expect(formatMetric(2.25, "days")).toBe("2.3 d")
  })

  it("never shows NaN, Infinity or nothing", () => {
    for (const value of [null, undefined, Number.NaN, Number.POSITIVE_INFINITY, "1"]) {
      expect(formatMetric(value, "ratio")).toBe("—")
    }
  })
})

describe("prices and changes", () => {
  it("keeps the digits that matter from BTC to SHIB", () => {
    expect(formatPrice(150123.456)).toBe("150,123.46")
    expect(formatPrice(3.41256)).toBe("3.4126")
    expect(formatPrice(0.00002134)).toBe("0.00002134")
    // One format in one column: never "410" beside "407.95".
    expect(formatPrice(410)).toBe("410.00")
    expect(formatPrice(407.95)).toBe("407.95")
    expect(formatPrice(1500)).toBe("1,500.00")
    expect(formatChange(1.5)).toBe("+1.50%")
    expect(formatChange(-0.25)).toBe("-0.25%")
    expect(formatChange(null)).toBe("—")
  })
})

describe("bestIndexes", () => {
  it("picks the highest or lowest, ties included, and nothing without a direction", () => {
    expect(bestIndexes([1, 3, 3, null], true)).toEqual([1, 2])
    expect(bestIndexes([-0.2, -0.1, -0.3], false)).toEqual([2])
    expect(bestIndexes([1, 2], null)).toEqual([])
    expect(bestIndexes([1, null], true)).toEqual([])
  })
})
