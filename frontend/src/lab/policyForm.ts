/**
 * The promotion policy editor: each criterion's required/advisory switch and threshold, in
 * the units a trader thinks in; checks before sending (the server checks again).
 *
 * Rules kept here: bounds mirror the criteria in backend/app/lab/releases/policy.py; the
 * drawdown and the out-of-sample margin are typed in percent and sent as exact fractions;
 * nothing typed is changed; a criterion without a threshold (lookahead, fees) only switches.
 */
import type { PromotionPolicy, PromotionPolicyUpdate } from "@/client/types.gen"
import { checkNumber, type NumberRule } from "@/forms/number"

import { shiftDecimal } from "@/floor/deploy/riskLimits"

export type PolicyKey = keyof PromotionPolicy

export interface PolicyField {
  key: PolicyKey
  label: string
  help: string
  /** null: a switch only. */
  rule: (NumberRule & { percent?: boolean }) | null
}

export const POLICY_FIELDS: PolicyField[] = [
  { key: "min_span_days", label: "Backtest span", help: "The main backtest covers at least this many days.", rule: { label: "Backtest span", min: 0, max: 3650, unit: "days" } },
  { key: "min_round_trips", label: "Closed round trips", help: "At least this many buy-then-sell trips.", rule: { label: "Closed round trips", min: 0, max: 1_000_000, integer: true } },
  { key: "min_sharpe", label: "Sharpe ratio after fees", help: "At least this Sharpe ratio.", rule: { label: "Sharpe ratio", min: -10, max: 10 } },
  { key: "max_drawdown", label: "Maximum drawdown", help: "No deeper fall from a peak than this.", rule: { label: "Maximum drawdown", min: 0, exclusiveMin: true, max: 100, unit: "%", percent: true } },
  { key: "out_of_sample", label: "Out-of-sample margin", help: "On unseen data, return may trail buy & hold by at most this.", rule: { label: "Out-of-sample margin", min: 0, max: 100, unit: "%", percent: true } },
  { key: "resources", label: "Predict time limit", help: "One decision in the sandbox takes at most this long.", rule: { label: "Predict time limit", min: 100, max: 60_000, integer: true, unit: "ms" } },
  { key: "lookahead", label: "Lookahead check", help: "Every evidence run was checked and not flagged.", rule: null },
  { key: "fees_match_execution", label: "Fees match execution", help: "The evidence was backtested with at least the execution style's fee.", rule: null },
]

export type PolicyForm = Record<PolicyKey, { required: boolean; threshold: number | null }>
export type PolicyErrors = Partial<Record<PolicyKey, string>>

export function policyToForm(policy: PromotionPolicy): PolicyForm {
  const form = {} as PolicyForm
  for (const field of POLICY_FIELDS) {
    const criterion = policy[field.key] as { required?: boolean; threshold?: number | string }
    const raw = criterion.threshold
    const threshold = raw === undefined || raw === null ? null : Number(field.rule?.percent ? shiftDecimal(raw, 2) : raw)
    form[field.key] = { required: criterion.required ?? true, threshold }
  }
  return form
}

export function checkPolicy(form: PolicyForm): PolicyErrors {
  const errors: PolicyErrors = {}
  for (const field of POLICY_FIELDS) {
    if (!field.rule) continue
    const problem = checkNumber(form[field.key].threshold, field.rule)
    if (problem) errors[field.key] = problem
  }
  return errors
}

export function formToPolicy(form: PolicyForm): PromotionPolicyUpdate {
  const body: Record<string, { required: boolean; threshold?: number }> = {}
  for (const field of POLICY_FIELDS) {
    const { required, threshold } = form[field.key]
    body[field.key] = field.rule && threshold !== null ? { required, threshold: field.rule.percent ? Number(shiftDecimal(threshold, -2)) : threshold } : { required }
  }
  return body as PromotionPolicyUpdate
}
