import { describe, expect, it } from "vitest"

import { formatAud, formatPercent, formatPnl, formatQuantity, formatRate, pnlClass, signOf, sumDecimals, toNumber } from "../format"

describe("formatAud", () => {
  it("rounds decimal strings to cents, half to even, without float error", () => {
    expect(formatAud("1234.565")).toBe("$1,234.56")
    expect(formatAud("1234.575")).toBe("$1,234.58")
    expect(formatAud("0.125")).toBe("$0.12")
    expect(formatAud("0.1250001")).toBe("$0.13")
    // 0.1 + 0.2 in floats is 0.30000000000000004; as a decimal string it is exact.
    expect(formatAud("9007199254740993.01")).toBe("$9,007,199,254,740,993.01")
    expect(formatAud("-12.3")).toBe("-$12.30")
    expect(formatAud("5")).toBe("$5.00")
  })

  it("writes nothing it cannot read as a dash", () => {
    expect(formatAud(null)).toBe("—")
    expect(formatAud("abc")).toBe("—")
    expect(formatAud("")).toBe("—")
    expect(formatAud(Number.NaN)).toBe("—")
  })
})

describe("formatPnl", () => {
  it("signs gains and losses, and zero has no sign", () => {
    expect(formatPnl("12.3")).toBe("+$12.30")
    expect(formatPnl("-4.049")).toBe("-$4.05")
    expect(formatPnl("0")).toBe("$0.00")
    // A loss smaller than half a cent rounds to zero: no "-$0.00".
    expect(formatPnl("-0.004")).toBe("$0.00")
    expect(pnlClass("-0.004")).toBe("")
    expect(pnlClass("-0.01")).toBe("loss")
    expect(pnlClass("0.01")).toBe("gain")
    expect(signOf("-0.0000001")).toBe(-1)
  })
})

describe("quantities, rates and percentages", () => {
  it("shows at most 8 decimals of a coin, trailing zeros dropped", () => {
    expect(formatQuantity("0.012300000")).toBe("0.0123")
    expect(formatQuantity("1.123456785")).toBe("1.12345678")
    expect(formatQuantity("2.000")).toBe("2")
    expect(formatQuantity("12345.5")).toBe("12,345.5")
  })

  it("writes prices with the digits that matter", () => {
    expect(formatRate("104123.456")).toBe("$104,123.46")
    expect(formatRate("0.00001234")).toBe("$0.00001234")
    expect(formatRate("0.5")).toBe("$0.50")
  })

  it("signs percentages", () => {
    expect(formatPercent(0.01234)).toBe("+1.23%")
    expect(formatPercent(-0.5)).toBe("-50.00%")
    expect(formatPercent(0)).toBe("0.00%")
    expect(formatPercent(-0.2, { signed: false })).toBe("-20.00%")
    expect(formatPercent(null)).toBe("—")
  })

  it("sums exactly", () => {
    expect(sumDecimals(["0.1", "0.2"])).toBe("0.3")
    expect(sumDecimals(["10.005", "-20", null])).toBe("-9.995")
    expect(toNumber("-9.995")).toBe(-9.995)
  })
})
