import { describe, expect, it } from "vitest"

import type { PromotionPolicy } from "@/client/types.gen"

import { checkPolicy, formToPolicy, policyToForm } from "../policyForm"

const policy: PromotionPolicy = {
  min_span_days: { required: true, threshold: 90 },
  min_round_trips: { required: true, threshold: 20 },
  min_sharpe: { required: true, threshold: 0.5 },
  max_drawdown: { required: true, threshold: 0.3 },
  lookahead: { required: true },
  out_of_sample: { required: true, threshold: 0.05 },
  resources: { required: true, threshold: 5000 },
  fees_match_execution: { required: true },
}

describe("promotion policy form", () => {
  it("shows fractions in percent and sends them back as the same fractions", () => {
    const form = policyToForm(policy)
    expect(form.max_drawdown.threshold).toBe(30)
    expect(form.out_of_sample.threshold).toBe(5)
    expect(form.lookahead).toEqual({ required: true, threshold: null })
    expect(checkPolicy(form)).toEqual({})
    const body = formToPolicy(form)
    expect(body.max_drawdown).toEqual({ required: true, threshold: 0.3 })
    expect(body.lookahead).toEqual({ required: true })
  })

  it("refuses thresholds out of bounds without changing them", () => {
    const form = policyToForm(policy)
    form.max_drawdown.threshold = 0
    form.min_round_trips.threshold = 2.5
    form.resources.threshold = 50
    const errors = checkPolicy(form)
    expect(errors.max_drawdown).toBe("Maximum drawdown must be more than 0 %")
    expect(errors.min_round_trips).toBe("Closed round trips must be a whole number")
    expect(errors.resources).toBe("Predict time limit must be at least 100 ms")
    expect(form.resources.threshold).toBe(50)
  })

  it("makes a criterion advisory", () => {
    const form = policyToForm(policy)
    form.min_sharpe.required = false
    expect(formToPolicy(form).min_sharpe).toEqual({ required: false, threshold: 0.5 })
  })
})
