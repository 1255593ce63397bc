/**
 * The deploy form: checks before sending (the server checks again), the live requirements in
 * words, the request body, and where the server's 422s go.
 *
 * Rules kept here: bounds mirror DeployRequest (backend/app/floor/schemas.py): capital
 * 0 < c <= 1e9 AUD in cents, 1–20 coins, shares typed in percent adding up to at most 100 %,
 * a decision every 1–288 bars; a live deployment needs validated full-access Coinspot keys,
 * the release's paper time and the real-money acknowledgement, each refused with its reason
 * next to its field; numbers are checked, never clamped; shares are sent as exact decimal
 * strings.
 */
import type { FieldSpec } from "@/api/fields"
import type { AvailableRelease, CredentialPublic, DeployRequest, DeploymentMode } from "@/client/types.gen"
import { checkNumber } from "@/forms/number"

import { checkLimits, formToLimits, limitKeys, limitSpec, shiftDecimal, type LimitValues } from "./riskLimits"

export interface DeployForm {
  releaseId: string | null
  mode: DeploymentMode
  name: string
  capital: number | null
  coins: string[]
  /** Equal shares (the server's default) or the shares typed below. */
  equalShares: boolean
  /** Coin -> share in percent. */
  allocation: Record<string, number | null>
  scheduleBars: number | null
  limits: LimitValues
  acknowledge: boolean
}

export type DeployField = "releaseId" | "limits" | "mode" | "name" | "capital" | "coins" | "allocation" | "scheduleBars" | "acknowledge" | "credentials" | `allocation.${string}` | `limits.${string}`
export type DeployErrors = Partial<Record<DeployField, string>>

export interface DeployContext {
  release?: AvailableRelease | null
  /** The stored Coinspot keys (null: none stored; undefined: not known yet). */
  credentials?: CredentialPublic | null
}

export const MAX_CAPITAL = 1_000_000_000
export const MAX_COINS = 20
export const MAX_SCHEDULE_BARS = 288

/** Why live trading is not possible yet with these keys, or undefined when they will do. */
export function credentialProblem(credentials: CredentialPublic | null | undefined): string | undefined {
  if (credentials === undefined) return "Checking your Coinspot keys…"
  if (credentials === null) return "Live trading needs your Coinspot API keys: add them in Settings › Coinspot API keys"
  if (credentials.validation_status !== "valid") return "Your Coinspot keys have not passed a check: validate them in Settings › Coinspot API keys"
  if (credentials.permission_level !== "full_access") return "Your Coinspot keys are read-only: live trading needs a full-access key"
  return undefined
}

/** Why the release may not trade live yet (paper time), or undefined. */
export function paperTimeProblem(release: Pick<AvailableRelease, "paper_hours" | "live_allowed_after_hours"> | null | undefined): string | undefined {
  if (!release) return undefined
  if (release.paper_hours >= release.live_allowed_after_hours) return undefined
  const have = release.paper_hours.toLocaleString("en-AU", { maximumFractionDigits: 1 })
  const need = release.live_allowed_after_hours.toLocaleString("en-AU", { maximumFractionDigits: 1 })
  return `This release has traded on paper for ${have} h; live trading needs ${need} h on paper first`
}

/** The sentence the user confirms before real money moves. */
export function realMoneyText(capital: number | null, coins: string[]): string {
  const amount = capital !== null && Number.isFinite(capital) && capital > 0 ? `${capital.toLocaleString("en-AU", { maximumFractionDigits: 2 })} AUD` : "the capital above"
  return `I understand this deployment places real orders on my Coinspot account with ${amount} of my money${coins.length ? ` in ${coins.join(", ")}` : ""}, that orders can lose money, and that fills can differ from the backtest.`
}

export function checkDeployForm(form: DeployForm, context: DeployContext = {}): DeployErrors {
  const errors: DeployErrors = {}
  if (!form.releaseId) errors.releaseId = "Choose a release to deploy"
  if (form.name.length > 100) errors.name = "The name is too long (100 characters at most)"
  const capital = checkNumber(form.capital, { label: "Capital", min: 0, exclusiveMin: true, max: MAX_CAPITAL, unit: "AUD" })
  if (capital) errors.capital = capital
  else if (form.capital !== null && Math.abs(Math.round(form.capital * 100) - form.capital * 100) > 1e-6) errors.capital = "Capital is in whole cents (2 decimals at most)"
  if (!form.coins.length) errors.coins = "Choose at least one coin"
  else if (form.coins.length > MAX_COINS) errors.coins = `Choose at most ${MAX_COINS} coins`
  const trained = context.release?.trained_coins
  if (trained && form.coins.some((c) => !trained.includes(c))) {
    errors.coins = `This release has fitted models for ${trained.join(", ")} only`
  }
  if (!form.equalShares && form.coins.length) {
    let total = 0
    for (const coin of form.coins) {
      const share = form.allocation[coin] ?? null
      const problem = share === null ? `Enter a share for ${coin}` : checkNumber(share, { label: `${coin}'s share`, min: 0, exclusiveMin: true, max: 100, unit: "%" })
      if (problem) errors[`allocation.${coin}`] = problem
      else total += share!
    }
    if (total > 100 + 1e-9) errors.allocation = `The shares add up to ${total.toLocaleString("en-AU", { maximumFractionDigits: 6 })} %: at most 100 %`
  }
  const schedule = checkNumber(form.scheduleBars, { label: "Schedule", min: 1, max: MAX_SCHEDULE_BARS, integer: true, unit: "bars" })
  if (schedule) errors.scheduleBars = schedule
  for (const [key, problem] of Object.entries(checkLimits(form.limits))) errors[`limits.${key}`] = problem
  if (form.mode === "live") {
    const keys = credentialProblem(context.credentials)
    if (keys) errors.credentials = keys
    const paper = paperTimeProblem(context.release)
    if (paper) errors.mode = paper
    if (!form.acknowledge) errors.acknowledge = "Confirm that this deployment trades real money"
  }
  return errors
}

/** The request body (call only when `checkDeployForm` found nothing). */
export function deployRequest(form: DeployForm): DeployRequest {
  return {
    release_id: form.releaseId!,
    mode: form.mode,
    name: form.name.trim() || null,
    capital: String(form.capital),
    coins: form.coins,
    allocation: form.equalShares ? null : Object.fromEntries(form.coins.map((c) => [c, shiftDecimal(form.allocation[c] ?? 0, -2)])),
    schedule_bars: form.scheduleBars!,
    risk_limits: formToLimits(form.limits) as DeployRequest["risk_limits"],
    acknowledge_real_money: form.mode === "live" ? form.acknowledge : false,
  }
}

/** Where the server's validation errors about a deployment go. */
export function deployFieldSpecs(limits: LimitValues): Record<string, FieldSpec<DeployField>> {
  const specs: Record<string, FieldSpec<DeployField>> = {
    release_id: { field: "releaseId", label: "Release" },
    mode: { field: "mode", label: "Mode" },
    name: { field: "name", label: "Name" },
    capital: { field: "capital", label: "Capital" },
    coins: { field: "coins", label: "Coins" },
    allocation: { field: "allocation", label: "Allocation" },
    schedule_bars: { field: "scheduleBars", label: "Schedule" },
    acknowledge_real_money: { field: "acknowledge", label: "The real-money confirmation" },
    risk_limits: { field: "limits", label: "Risk limits" },
  }
  for (const key of limitKeys(limits)) {
    const spec = limitSpec(key)
    specs[`risk_limits.${key}`] = {
      field: `limits.${key}`,
      label: spec.label,
      // The server speaks in fractions; the box is in percent.
      message: spec.percent ? `${spec.label} must be more than 0 % and at most ${spec.max} %` : undefined,
    }
  }
  return specs
}

/** The server's own sentences (live requirements, balance), routed to the field they concern. */
export const DEPLOY_STRING_RULES: Array<[RegExp, DeployField]> = [
  [/credential|api key|full access|read-only/i, "credentials"],
  [/paper/i, "mode"],
  [/acknowledg|real money/i, "acknowledge"],
  [/balance|capital/i, "capital"],
  [/release/i, "releaseId"],
  [/coin/i, "coins"],
  [/allocation|share/i, "allocation"],
]
