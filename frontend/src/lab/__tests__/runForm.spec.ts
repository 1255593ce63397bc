import { describe, expect, it } from "vitest"

import { ApiError } from "@/api/errors"
import { mapFieldErrors } from "@/api/fields"

import { checkRunForm, RUN_FIELD_SPECS, RUN_STRING_RULES, runRange, type RunForm } from "../runForm"

const good: RunForm = { coins: ["BTC"], start: "2026-11-01", end: "2026-11-14", cash: 10_000, feePct: 0.1, slippage: 0, label: "" }

describe("checkRunForm", () => {
  it("accepts a sensible form", () => {
    expect(checkRunForm(good, "UTC")).toEqual({})
  })

  it("refuses a negative fee instead of running it as a positive one", () => {
    expect(checkRunForm({ ...good, feePct: -1 }, "UTC").feePct).toBe("Fee must be at least 0 %")
  })

  it("refuses out-of-range cash and slippage instead of clamping them", () => {
    const errors = checkRunForm({ ...good, cash: 5_000_000_000, slippage: -500 }, "UTC")
    expect(errors.cash).toMatch(/at most 1,000,000,000 AUD/)
    expect(errors.slippage).toBe("Slippage must be at least 0 bps")
    expect(checkRunForm({ ...good, cash: Number.NaN }, "UTC").cash).toBe("Starting cash must be a number")
  })

  it("names missing coins and dates instead of failing with 'Invalid time value'", () => {
    const errors = checkRunForm({ ...good, coins: [], start: "", end: "2026-10-01" }, "UTC")
    expect(errors.coins).toBe("Choose at least one coin")
    expect(errors.start).toMatch(/DD\/MM\/YYYY/)
    expect(checkRunForm({ ...good, end: "2026-10-01" }, "UTC").end).toMatch(/before the first day/)
  })
})

describe("runRange", () => {
  it("covers whole days in the profile's zone", () => {
    expect(runRange(good, "Australia/Sydney")).toEqual({ start: "2026-10-31T13:00:00.000Z", end: "2026-11-14T12:55:00.000Z" })
  })
})

describe("server errors on the backtest form", () => {
  it("land at their fields", () => {
    const error = new ApiError(422, "", [
      { loc: ["body", "settings", "starting_cash"], msg: "Input should be a valid number" },
      { loc: ["body", "coins"], msg: "List should have at least 1 item after validation, not 0" },
    ])
    expect(mapFieldErrors(error, RUN_FIELD_SPECS, RUN_STRING_RULES).fields).toEqual({
      cash: "Starting cash must be a number",
      coins: "Coins needs at least one choice",
    })
    expect(mapFieldErrors(new ApiError(422, "", "invalid parameters: fast must be at most 1000"), RUN_FIELD_SPECS, RUN_STRING_RULES).fields).toEqual({
      parameters: "Invalid parameters: fast must be at most 1000",
    })
  })
})
