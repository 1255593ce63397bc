import { describe, expect, it } from "vitest"

import { checkKeyForm, maskedKey, STATUS_TEXT } from "../credentials"

describe("checkKeyForm", () => {
  const good = { label: "Main", apiKey: "k".repeat(32), apiSecret: "s".repeat(64) }

  it("accepts Coinspot-shaped keys", () => {
    expect(checkKeyForm(good)).toEqual({})
  })

  it("names the field that is wrong, without echoing the secret", () => {
    const errors = checkKeyForm({ label: "x".repeat(101), apiKey: "short", apiSecret: "bad secret with spaces!" })
    expect(errors.label).toMatch(/too long/)
    expect(errors.apiKey).toMatch(/too short/)
    expect(errors.apiSecret).toMatch(/only hold/)
    expect(errors.apiSecret).not.toContain("bad secret")
    expect(checkKeyForm({ ...good, apiKey: "" }).apiKey).toBe("Enter the API key")
  })

  it("has words for every status and masks the key", () => {
    expect(STATUS_TEXT.invalid_signature).toMatch(/secret/)
    expect(maskedKey("AB12")).toBe("•••• •••• AB12")
  })
})
