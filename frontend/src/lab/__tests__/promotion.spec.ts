import { describe, expect, it } from "vitest"

import type { ChecklistItem } from "@/client/types.gen"

import { formatMeasured, formatThreshold, refusedChecklist, shortHash, summarise, verdict } from "../promotion"

const item = (over: Partial<ChecklistItem>): ChecklistItem => ({ key: "min_span_days", label: "Backtest span (days)", required: true, threshold: 90, measured: 20.5, passed: false, detail: "", ...over })

describe("checklist formatting", () => {
  it("writes each criterion's threshold in its unit with its comparison", () => {
    expect(formatThreshold(item({}))).toBe("at least 90 days")
    expect(formatThreshold(item({ key: "min_round_trips", threshold: 20 }))).toBe("at least 20")
    expect(formatThreshold(item({ key: "min_sharpe", threshold: 0.5 }))).toBe("at least 0.5")
    expect(formatThreshold(item({ key: "max_drawdown", threshold: 0.3 }))).toBe("at most 30 %")
    expect(formatThreshold(item({ key: "resources", threshold: 5000 }))).toBe("at most 5,000 ms")
    expect(formatThreshold(item({ key: "fees_match_execution", threshold: 0.01 }))).toBe("at least 1 %")
    expect(formatThreshold(item({ key: "out_of_sample", threshold: 0.05 }))).toBe("return ≥ buy & hold − 5 %")
    expect(formatThreshold(item({ key: "lookahead", threshold: null }))).toBe("checked, no lookahead")
  })

  it("writes measured values in the same unit and never turns a missing one into 0", () => {
    expect(formatMeasured(item({}))).toBe("20.5 days")
    expect(formatMeasured(item({ key: "max_drawdown", measured: 0.1234 }))).toBe("12.34 %")
    expect(formatMeasured(item({ key: "min_sharpe", measured: null }))).toBe("not measured")
    expect(formatMeasured(item({ key: "lookahead", measured: "passed" }))).toBe("passed")
    expect(formatMeasured(item({ key: "evidence_matches", measured: 1 }))).toBe("1 run")
    expect(formatMeasured(item({ key: "out_of_sample", measured: -0.021 }))).toBe("−2.1 % vs buy & hold")
    expect(formatMeasured(item({ key: "out_of_sample", measured: 0.5 }))).toBe("+50 % vs buy & hold")
  })

  it("shows a criterion it does not know with its values as they came", () => {
    expect(formatThreshold(item({ key: "new_thing", threshold: 3 }))).toBe("3")
    expect(formatMeasured(item({ key: "new_thing", measured: "odd" }))).toBe("odd")
  })

  it("fails a required criterion and only warns for an advisory one", () => {
    expect(verdict({ passed: true, required: true })).toBe("pass")
    expect(verdict({ passed: false, required: true })).toBe("fail")
    expect(verdict({ passed: false, required: false })).toBe("warn")
  })

  it("summarises what blocks the release", () => {
    const s = summarise([item({}), item({ key: "min_sharpe", label: "Sharpe", required: false }), item({ key: "lookahead", label: "Lookahead", passed: true })])
    expect(s.passed).toBe(false)
    expect(s.failedRequired).toEqual(["Backtest span (days)"])
    expect(s.text).toContain("1 required criterion fails: Backtest span (days).")
    expect(s.text).toContain("Advisory, not met: Sharpe.")
    expect(summarise([item({ passed: true })]).passed).toBe(true)
  })

  it("reads the checklist out of a refused promotion and nothing out of another 422", () => {
    const body = { detail: [{ loc: ["body", "evidence"], msg: "promotion refused" }], passed: false, checklist: [item({})] }
    expect(refusedChecklist(body)?.checklist).toHaveLength(1)
    expect(refusedChecklist({ detail: "evidence: not your run" })).toBeNull()
    expect(refusedChecklist(null)).toBeNull()
  })

  it("shortens a content hash", () => {
    expect(shortHash("a".repeat(64))).toBe(`${"a".repeat(12)}…`)
    expect(shortHash("abc")).toBe("abc")
  })
})
