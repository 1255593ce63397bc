import { describe, expect, it } from "vitest"

import type { UserPublic } from "@/client/types.gen"

import { formFromUser, timezoneNames, updateFromForm, validateProfile, type ProfileForm } from "../form"

const zones = ["UTC", "Australia/Sydney", "Australia/Perth"]

function form(overrides: Partial<ProfileForm> = {}): ProfileForm {
  return {
    full_name: "Ada Lovelace",
    display_name: "ada",
    timezone: "Australia/Sydney",
    base_currency: "AUD",
    max_position_size_aud: 2500,
    daily_loss_limit_aud: 150.5,
    ...overrides,
  }
}

describe("validateProfile", () => {
  it("accepts a complete, sensible profile", () => {
    expect(validateProfile(form(), zones)).toEqual({})
  })

  it("rejects negative, missing and over-precise risk limits", () => {
    const errors = validateProfile(form({ max_position_size_aud: -1, daily_loss_limit_aud: null }), zones)
    expect(errors.max_position_size_aud).toMatch(/cannot be negative/)
    expect(errors.daily_loss_limit_aud).toMatch(/required/)
    expect(validateProfile(form({ daily_loss_limit_aud: 1.005 }), zones).daily_loss_limit_aud).toMatch(/2 decimal/)
  })

  it("accepts cents that floating point cannot represent exactly", () => {
    expect(validateProfile(form({ max_position_size_aud: 1.1, daily_loss_limit_aud: 0.29 }), zones)).toEqual({})
  })

  it("rejects an unknown time zone and currency", () => {
    const errors = validateProfile(form({ timezone: "Mars/Olympus", base_currency: "USD" }), zones)
    expect(Object.keys(errors).sort()).toEqual(["base_currency", "timezone"])
  })
})

describe("profile payload", () => {
  it("round-trips a user and sends amounts as two-decimal strings", () => {
    const user = {
      email: "ada@example.com",
      id: "5c1f5a6e-0000-4000-8000-000000000000",
      full_name: null,
      display_name: "ada",
      timezone: "Australia/Perth",
      base_currency: "AUD",
      max_position_size_aud: "1000.00",
      daily_loss_limit_aud: "0.10",
    } as UserPublic
    const loaded = formFromUser(user)
    expect(loaded).toMatchObject({ full_name: "", max_position_size_aud: 1000, daily_loss_limit_aud: 0.1 })
    const body = updateFromForm({ ...loaded, display_name: "  " })
    expect(body).toMatchObject({
      display_name: null,
      full_name: null,
      timezone: "Australia/Perth",
      max_position_size_aud: "1000.00",
      daily_loss_limit_aud: "0.10",
    })
  })

  it("offers UTC and the IANA zones", () => {
    const names = timezoneNames()
    expect(names).toContain("UTC")
    expect(names).toContain("Australia/Sydney")
  })
})

describe("risk limits typed by the user", () => {
  it("refuses -500 instead of saving 500", () => {
    const errors = validateProfile(
      { full_name: "", display_name: "", timezone: "UTC", base_currency: "AUD", max_position_size_aud: -500, daily_loss_limit_aud: 2_000_000_000 },
      ["UTC"],
    )
    expect(errors.max_position_size_aud).toBe("Max position size cannot be negative")
    expect(errors.daily_loss_limit_aud).toMatch(/cannot exceed/)
  })
})
