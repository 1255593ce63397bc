import { describe, expect, it } from "vitest"

import { ApiError, isNotFound, shouldRetry } from "../errors"
import { mapFieldErrors, phrase } from "../fields"

const specs = {
  coins: { field: "coins", label: "Coins" },
  "settings.starting_cash": { field: "cash", label: "Starting cash" },
  "settings.fee_rate": { field: "fee", label: "Fee", message: "Fee must be between 0 % and 10 %" },
} as const

describe("mapFieldErrors", () => {
  it("puts each server message at its field in a trader's words", () => {
    const error = new ApiError(422, "…", [
      { loc: ["body", "settings", "starting_cash"], msg: "Input should be a valid number, unable to parse string as a number" },
      { loc: ["body", "coins"], msg: "List should have at least 1 item after validation, not 0" },
      { loc: ["body", "settings", "fee_rate"], msg: "Input should be less than or equal to 0.1" },
      { loc: ["body", "mystery"], msg: "Extra inputs are not permitted" },
    ])
    const mapped = mapFieldErrors(error, specs)
    expect(mapped.fields).toEqual({
      cash: "Starting cash must be a number",
      coins: "Coins needs at least one choice",
      fee: "Fee must be between 0 % and 10 %",
    })
    expect(mapped.other).toBe("mystery: Extra inputs are not permitted")
  })

  it("routes the server's own sentences by pattern and keeps the rest general", () => {
    const rules: Array<[RegExp, "coins" | "cash" | "fee"]> = [[/\bcoin/i, "coins"]]
    expect(mapFieldErrors(new ApiError(422, "x", "no price data for coin XYZ in the range"), specs, rules).fields).toEqual({
      coins: "No price data for coin XYZ in the range",
    })
    expect(mapFieldErrors(new ApiError(500, "The server failed", undefined), specs).other).toBe("The server failed")
  })

  it("translates pydantic phrases", () => {
    expect(phrase("Input should be greater than 0")).toBe("must be more than 0")
    expect(phrase("Value error, something odd")).toBe(": something odd")
  })
})

describe("not found and retries", () => {
  it("treats 404 and a malformed id as not found, and never retries a 4xx", () => {
    expect(isNotFound(new ApiError(404, "backtest not found"))).toBe(true)
    expect(isNotFound(new ApiError(422, "bad id", [{ loc: ["path", "run_id"], msg: "Input should be a valid UUID" }]))).toBe(true)
    expect(isNotFound(new ApiError(422, "bad body", [{ loc: ["body", "coins"], msg: "x" }]))).toBe(false)
    expect(shouldRetry(0, new ApiError(404, "x"))).toBe(false)
    expect(shouldRetry(0, new ApiError(503, "x"))).toBe(true)
    expect(shouldRetry(1, new ApiError(503, "x"))).toBe(false)
  })
})
