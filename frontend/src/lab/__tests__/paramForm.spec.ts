import { describe, expect, it } from "vitest"

import { checkAll, checkValues, fieldsFromSchema, initialValues } from "../paramForm"

const schema = {
  properties: {
    fast: { type: "integer", minimum: 2, maximum: 1000, default: 12, description: "Bars in the fast average" },
    band: { type: "number", minimum: 0, maximum: 0.05, default: 0 },
    source: { type: "string", enum: ["last", "mid"], default: "last" },
    long_only: { type: "boolean", default: true, title: "Long only" },
    threshold: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.5 },
  },
}

describe("fieldsFromSchema", () => {
  it("makes one field per parameter with its kind, bounds, step and label", () => {
    const fields = fieldsFromSchema(schema)
    expect(fields.map((f) => [f.name, f.kind])).toEqual([
      ["fast", "integer"],
      ["band", "number"],
      ["source", "choice"],
      ["long_only", "boolean"],
      ["threshold", "number"],
    ])
    const fast = fields[0]!
    expect(fast).toMatchObject({ label: "Fast", min: 2, max: 1000, step: 1, default: 12, description: "Bars in the fast average" })
    expect(fields[1]!.step).toBe(0.0005)
    expect(fields[2]!.options).toEqual(["last", "mid"])
    expect(fields[3]!.label).toBe("Long only")
    expect(fields[4]).toMatchObject({ min: 0, max: 1 })
  })

  it("copes with no schema at all", () => {
    expect(fieldsFromSchema(null)).toEqual([])
    expect(fieldsFromSchema({})).toEqual([])
  })
})

describe("checkValues and initialValues", () => {
  const fields = fieldsFromSchema(schema)

  it("fills defaults and keeps given values", () => {
    expect(initialValues(fields, { fast: 20, unknown: 1 })).toEqual({ fast: 20, band: 0, source: "last", long_only: true, threshold: 0.5 })
  })

  it("enforces bounds, integers, options and booleans", () => {
    const values = { fast: 1.5, band: 0.1, source: "open", long_only: "yes", threshold: 0.5 }
    const problems = checkValues(fields, values)
    expect(Object.keys(problems).sort()).toEqual(["band", "fast", "long_only", "source"])
    expect(problems.fast).toMatch(/whole number/)
    expect(problems.band).toMatch(/at most 0.05/)
    expect(checkValues(fields, initialValues(fields, {}))).toEqual({})
    expect(checkValues(fields, { ...initialValues(fields, {}), fast: 1 }).fast).toMatch(/at least 2/)
  })
})

describe("declared constraints", () => {
  const withConstraint = {
    properties: { fast: { type: "integer", minimum: 2, maximum: 1000 }, slow: { type: "integer", minimum: 3, maximum: 5000 } },
    "x-constraints": [{ text: "fast < slow", left: "fast", op: "<" as const, right: "slow" }],
  }
  it("refuses fast >= slow at the fast field, after the per-field checks", () => {
    expect(checkAll(withConstraint, { fast: 48, slow: 12 })).toEqual({ fast: "fast (48) must be less than slow (12): the algorithm requires fast < slow" })
    expect(checkAll(withConstraint, { fast: 6, slow: 12 })).toEqual({})
    expect(checkAll(withConstraint, { fast: 1, slow: 12 })).toEqual({ fast: "Fast must be at least 2" })
  })
})
