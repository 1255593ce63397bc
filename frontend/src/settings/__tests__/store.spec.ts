import { describe, expect, it } from "vitest"

import { codeProblem } from "../store"

describe("codeProblem", () => {
  it("accepts a 6-digit code and a recovery code", () => {
    expect(codeProblem("123456")).toBeNull()
    expect(codeProblem(" 123 456 ")).toBeNull()
    expect(codeProblem("abcd-efgh-jkmn-pqrs")).toBeNull()
  })

  it("refuses empty and malformed codes with a readable message", () => {
    expect(codeProblem("")).toBe("Enter a code.")
    expect(codeProblem("12345")).toMatch(/6 digits/)
    expect(codeProblem("12345x")).toMatch(/6 digits/)
  })
})
