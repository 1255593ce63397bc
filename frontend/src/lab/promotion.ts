/**
 * The promotion checklist in words: each criterion's threshold and measured value written in
 * its unit, and the refusal of `POST …/promote` read back into the checklist it carries.
 *
 * Rules kept here: a value the server did not measure shows as "not measured", never as 0;
 * fractions are shown as percentages without changing the number (0.3 → "30 %"); an unknown
 * criterion (one the server adds later) is still shown, with its values as they came; a
 * required criterion that failed blocks the release, an advisory one only warns.
 */
import type { ChecklistItem, PromotionCheck } from "@/client/types.gen"

type Kind = "days" | "count" | "ratio" | "percent" | "ms" | "flag" | "runs"

interface CriterionSpec {
  kind: Kind
  /** How the threshold reads: "at least", "at most", … */
  compare: "at least" | "at most" | "within" | "none"
}

const SPECS: Record<string, CriterionSpec> = {
  evidence_matches: { kind: "runs", compare: "none" },
  min_span_days: { kind: "days", compare: "at least" },
  min_round_trips: { kind: "count", compare: "at least" },
  min_sharpe: { kind: "ratio", compare: "at least" },
  max_drawdown: { kind: "percent", compare: "at most" },
  lookahead: { kind: "flag", compare: "none" },
  out_of_sample: { kind: "percent", compare: "within" },
  fees_match_execution: { kind: "percent", compare: "at least" },
  resources: { kind: "ms", compare: "at most" },
}

const nf = (n: number, digits: number): string => n.toLocaleString("en-AU", { maximumFractionDigits: digits })

function asNumber(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value)
  return null
}

/** One value of a criterion in its unit. */
export function formatCriterionValue(key: string, value: unknown): string {
  if (value === null || value === undefined) return "not measured"
  if (typeof value === "boolean") return value ? "yes" : "no"
  const spec = SPECS[key]
  const n = asNumber(value)
  if (n === null) return String(value)
  switch (spec?.kind) {
    case "days":
      return `${nf(n, 1)} days`
    case "count":
      return nf(n, 0)
    case "runs":
      return `${nf(n, 0)} ${n === 1 ? "run" : "runs"}`
    case "ratio":
      return nf(n, 2)
    case "percent":
      return `${nf(n * 100, 2)} %`
    case "ms":
      return `${nf(n, 1)} ms`
    default:
      return nf(n, 6)
  }
}

/** What the criterion asks for, in words ("at least 90 days", "every run matches"). */
export function formatThreshold(item: Pick<ChecklistItem, "key" | "threshold">): string {
  switch (item.key) {
    case "evidence_matches":
      return "every run is of this version and these parameters"
    case "lookahead":
      return "checked, no lookahead"
    case "out_of_sample":
      return item.threshold === null || item.threshold === undefined
        ? "return ≥ buy & hold"
        : `return ≥ buy & hold − ${formatCriterionValue("out_of_sample", item.threshold)}`
  }
  if (item.threshold === null || item.threshold === undefined) return "—"
  const spec = SPECS[item.key]
  const value = formatCriterionValue(item.key, item.threshold)
  return spec && spec.compare !== "none" && spec.compare !== "within" ? `${spec.compare} ${value}` : value
}

/** The measured value; out-of-sample is written as the gap to buy & hold. */
export function formatMeasured(item: Pick<ChecklistItem, "key" | "measured">): string {
  if (item.key === "out_of_sample") {
    const n = asNumber(item.measured)
    if (n === null) return formatCriterionValue(item.key, item.measured)
    return `${n >= 0 ? "+" : "−"}${nf(Math.abs(n) * 100, 2)} % vs buy & hold`
  }
  return formatCriterionValue(item.key, item.measured)
}

export type Verdict = "pass" | "fail" | "warn"

/** Pass, fail (a required criterion: blocks the release) or warn (an advisory one). */
export function verdict(item: Pick<ChecklistItem, "passed" | "required">): Verdict {
  if (item.passed) return "pass"
  return item.required ? "fail" : "warn"
}

export interface ChecklistSummary {
  passed: boolean
  failedRequired: string[]
  failedAdvisory: string[]
  text: string
}

export function summarise(checklist: ChecklistItem[]): ChecklistSummary {
  const failedRequired = checklist.filter((i) => i.required && !i.passed).map((i) => i.label)
  const failedAdvisory = checklist.filter((i) => !i.required && !i.passed).map((i) => i.label)
  const passed = failedRequired.length === 0
  let text = passed ? "Every required criterion passes: a release can be created." : `${failedRequired.length} required ${failedRequired.length === 1 ? "criterion fails" : "criteria fail"}: ${failedRequired.join(", ")}.`
  if (failedAdvisory.length) text += ` Advisory, not met: ${failedAdvisory.join(", ")}.`
  return { passed, failedRequired, failedAdvisory, text }
}

/**
 * The checklist a refused promotion (422) carries beside its `detail`, or null when the body is
 * another 422 (bad evidence, named field).
 */
export function refusedChecklist(body: unknown): PromotionCheck | null {
  if (!body || typeof body !== "object") return null
  const checklist = (body as { checklist?: unknown }).checklist
  if (!Array.isArray(checklist)) return null
  return { passed: Boolean((body as { passed?: unknown }).passed), checklist: checklist as ChecklistItem[], release_id: null }
}

/** A content hash short enough for a table, whole in its title. */
export function shortHash(hash: string): string {
  return hash.length > 12 ? `${hash.slice(0, 12)}…` : hash
}
