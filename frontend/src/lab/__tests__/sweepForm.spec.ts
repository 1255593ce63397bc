import { describe, expect, it } from "vitest"

import { fieldsFromSchema } from "../paramForm"
import { axisValues, checkAxis, checkSamples, gridSize, heatColor, roundHalfEven, skippedByConstraints } from "../sweepForm"

const fields = fieldsFromSchema({
  properties: {
    fast: { type: "integer", minimum: 2, maximum: 1000 },
    slow: { type: "integer", minimum: 3, maximum: 5000 },
    band: { type: "number", minimum: 0, maximum: 0.05 },
  },
})

describe("axisValues and gridSize count what the server counts", () => {
  it("keeps each rounded integer once (50 steps over 2..40 are 39 values, not 50)", () => {
    expect(axisValues("integer", { use: true, min: 2, max: 40, steps: 50 })).toHaveLength(39)
    expect(axisValues("integer", { use: true, min: 6, max: 24, steps: 3 })).toEqual([6, 15, 24])
    expect(axisValues("number", { use: true, min: 0, max: 0.05, steps: 3 })).toEqual([0, 0.025, 0.05])
  })

  it("multiplies distinct values, not steps", () => {
    const axes = {
      fast: { use: true, min: 2, max: 40, steps: 50 },
      slow: { use: true, min: 10, max: 59, steps: 50 },
      band: { use: false, min: 0, max: 0.05, steps: 3 },
    }
    // 39 × 50 — the page used to say 2500.
    expect(gridSize(fields, axes)).toBe(1950)
  })

  it("rounds halves like Python", () => {
    expect(roundHalfEven(2.5)).toBe(2)
    expect(roundHalfEven(3.5)).toBe(4)
    expect(roundHalfEven(3.4)).toBe(3)
  })
})

describe("checks", () => {
  it("names bad bounds and steps instead of clamping", () => {
    const fast = fields[0]!
    expect(checkAxis(fast, { use: true, min: 1, max: 3000, steps: 0 })).toEqual({
      min: "From must be at least 2",
      max: "To must be at most 1,000",
      steps: "Steps must be at least 1",
    })
    expect(checkAxis(fast, { use: true, min: 20, max: 10, steps: 3 }).max).toBe("To must not be below From")
    expect(checkSamples("random", 0, 500)).toBe("Samples must be at least 1")
    expect(checkSamples("grid", null, 500)).toBeUndefined()
  })

  it("colours worst red and best green, reversed when lower is better", () => {
    expect(heatColor(1, 0, 1, true)).toBe("hsl(120, 65%, 70%)")
    expect(heatColor(1, 0, 1, false)).toBe("hsl(0, 65%, 70%)")
    expect(heatColor(null, 0, 1, true)).toBe("#f3f4f6")
  })
})

describe("declared constraints", () => {
  const constraints = [{ text: "fast < slow", left: "fast", op: "<" as const, right: "slow" }]
  it("counts the combinations the server will skip", () => {
    const axes = { fast: { use: true, min: 6, max: 48, steps: 3 }, slow: { use: true, min: 12, max: 36, steps: 2 }, band: { use: false, min: 0, max: 0.05, steps: 3 } }
    // fast 6, 27, 48 × slow 12, 36: (27,12) (48,12) (48,36) break fast < slow.
    expect(skippedByConstraints(fields, axes, { band: 0 }, constraints)).toBe(3)
    expect(skippedByConstraints(fields, axes, {}, [])).toBe(0)
  })
})
