import { describe, expect, it } from "vitest"

import { checkLimits, describeLimit, formToLimits, LIMIT_DEFAULTS, limitKeys, limitSpec, limitsToForm, limitsUpdateBody, shiftDecimal } from "../riskLimits"

describe("risk limits form", () => {
  it("starts from the server's defaults, fractions shown in percent", () => {
    const form = limitsToForm(null)
    expect(form.max_drawdown_fraction).toBe(50)
    expect(form.max_spread_fraction).toBe(5)
    expect(form.max_orders_per_hour).toBe(60)
    expect(form.daily_loss_aud).toBeNull()
    expect(Object.keys(form)).toEqual(Object.keys(LIMIT_DEFAULTS))
  })

  it("sends fractions as exact decimal strings and empty boxes as null", () => {
    const body = formToLimits({ max_drawdown_fraction: 7, max_spread_fraction: 1.1, daily_loss_aud: 250.5, max_orders_per_hour: 12, cooldown_minutes: null })
    expect(body).toEqual({ max_drawdown_fraction: "0.07", max_spread_fraction: "0.011", daily_loss_aud: "250.5", max_orders_per_hour: 12, cooldown_minutes: null })
  })

  it("shifts decimals without binary rounding", () => {
    expect(shiftDecimal(1.1, -2)).toBe("0.011")
    expect(shiftDecimal("0.05", 2)).toBe("5")
    expect(shiftDecimal(0.07, 2)).toBe("7")
    expect(shiftDecimal(150, -2)).toBe("1.5")
    expect(shiftDecimal("1e-7", 2)).toBe("0.00001")
    expect(shiftDecimal(33.333, -2)).toBe("0.33333")
  })

  it("refuses out-of-range and malformed limits with the limit's name, never clamping", () => {
    const errors = checkLimits({ max_drawdown_fraction: 150, max_orders_per_hour: 0.5, daily_loss_aud: -10, max_price_age_seconds: Number.NaN, max_order_aud: 10.555, cooldown_minutes: null })
    expect(errors.max_drawdown_fraction).toBe("Maximum drawdown must be at most 100 %")
    expect(errors.max_orders_per_hour).toBe("Orders per hour must be a whole number")
    expect(errors.daily_loss_aud).toBe("Daily loss limit must be more than 0 AUD")
    expect(errors.max_price_age_seconds).toBe("Oldest usable price must be a number")
    expect(errors.max_order_aud).toContain("whole cents")
    expect(errors.cooldown_minutes).toBeUndefined()
  })

  it("shows and sends a limit it does not know, its unit read from its name", () => {
    const keys = limitKeys({ max_open_orders_per_hour: 3, min_cash_reserve_aud: "100" })
    expect(keys).toContain("min_cash_reserve_aud")
    expect(limitSpec("min_cash_reserve_aud")).toMatchObject({ label: "Min cash reserve", unit: "AUD", percent: false })
    expect(limitSpec("max_loss_streak_fraction")).toMatchObject({ unit: "%", percent: true })
    const form = limitsToForm({ min_cash_reserve_aud: "100" }, keys)
    expect(form.min_cash_reserve_aud).toBe(100)
    expect(formToLimits(form).min_cash_reserve_aud).toBe("100")
  })

  it("describes a stored limit for reading", () => {
    expect(describeLimit("max_drawdown_fraction", "0.25")).toBe("25 %")
    expect(describeLimit("daily_loss_aud", null)).toBe("no limit")
    expect(describeLimit("daily_loss_aud", "1500")).toBe("1,500 AUD")
    expect(describeLimit("max_price_age_seconds", 600)).toBe("600 s")
  })

  it("leaves the breach actions out of the boxes and keeps them when the limits are replaced", () => {
    const stored = { max_drawdown_fraction: "0.25", daily_loss_aud: null, actions: { daily_loss_aud: "halted" } }
    const keys = limitKeys(stored)
    expect(keys).not.toContain("actions")
    const form = limitsToForm(stored, keys)
    expect(form.max_drawdown_fraction).toBe(25)
    form.daily_loss_aud = 200
    const body = limitsUpdateBody(form, stored)
    expect(body.actions).toEqual({ daily_loss_aud: "halted" })
    expect(body.daily_loss_aud).toBe("200")
    expect(body.max_drawdown_fraction).toBe("0.25")
  })
})
