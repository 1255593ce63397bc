import { describe, expect, it } from "vitest"

import { axisNumber, crosshairTime, precisionFor, tickTime } from "../format"

describe("chart labels", () => {
  it("write thousands separators and percent signs", () => {
    expect(axisNumber(152345.5, 2)).toBe("152,345.50")
    expect(axisNumber(-33.7603, 2, true)).toBe("-33.76 %")
    expect(axisNumber(0.00001234, 8)).toBe("0.00001234")
    expect(precisionFor([150_000, 140_000])).toBe(2)
    expect(precisionFor([0.5])).toBe(8)
  })

  it("write times in the profile's zone, named", () => {
    const t = Date.parse("2026-12-01T19:05:00Z") / 1000
    expect(crosshairTime(t, "Australia/Sydney")).toBe("02/12/2026 06:05 AEDT")
    expect(crosshairTime(t, "UTC")).toBe("01/12/2026 19:05 UTC")
    expect(tickTime(t, "Australia/Sydney", "time")).toBe("06:05")
    expect(tickTime(t, "Australia/Sydney", "day")).toBe("02 Dec")
  })
})
