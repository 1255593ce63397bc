import { describe, expect, it } from "vitest"

import { ApiError } from "@/api/errors"
import { mapFieldErrors } from "@/api/fields"
import type { AvailableRelease, CredentialPublic } from "@/client/types.gen"

import { checkDeployForm, credentialProblem, DEPLOY_STRING_RULES, deployFieldSpecs, deployRequest, paperTimeProblem, realMoneyText, type DeployForm } from "../deployForm"
import { limitsToForm } from "../riskLimits"

const good = (): DeployForm => ({
  releaseId: "r1",
  mode: "paper",
  name: "",
  capital: 1000,
  coins: ["BTC", "ETH"],
  equalShares: true,
  allocation: {},
  scheduleBars: 1,
  limits: limitsToForm(null),
  acknowledge: false,
})
const release: AvailableRelease = {
  release_id: "r1",
  algorithm_id: "a1",
  algorithm_name: "MA",
  algorithm_version: 2,
  algorithm_type: "rule",
  content_hash: "abc",
  parameters: {},
  costs: {},
  trained_coins: null,
  paper_hours: 30,
  live_allowed_after_hours: 24,
  created_at: "2026-12-01T00:00:00Z",
}
const keys: CredentialPublic = {
  label: "main",
  key_last4: "abcd",
  key_fingerprint: "f",
  permission_level: "full_access",
  validation_status: "valid",
  last_validated_at: null,
  created_at: "2026-12-01T00:00:00Z",
  updated_at: "2026-12-01T00:00:00Z",
}

describe("checkDeployForm", () => {
  it("accepts a sensible paper deployment and builds its request", () => {
    expect(checkDeployForm(good(), { release })).toEqual({})
    const body = deployRequest(good())
    expect(body).toMatchObject({ release_id: "r1", mode: "paper", capital: "1000", coins: ["BTC", "ETH"], allocation: null, schedule_bars: 1, acknowledge_real_money: false })
    expect(body.risk_limits).toMatchObject({ max_drawdown_fraction: "0.5", max_orders_per_hour: 60 })
  })

  it("says what is wrong next to each field instead of fixing the numbers", () => {
    const form = { ...good(), releaseId: null, capital: -5, coins: [], scheduleBars: 2.5, limits: { ...good().limits, max_drawdown_fraction: 0 } }
    const errors = checkDeployForm(form)
    expect(errors.releaseId).toBe("Choose a release to deploy")
    expect(errors.capital).toBe("Capital must be more than 0 AUD")
    expect(errors.coins).toBe("Choose at least one coin")
    expect(errors.scheduleBars).toBe("Schedule must be a whole number")
    expect(errors["limits.max_drawdown_fraction"]).toBe("Maximum drawdown must be more than 0 %")
    expect(form.capital).toBe(-5)
    expect(checkDeployForm({ ...good(), capital: 10.005 }).capital).toContain("whole cents")
    expect(checkDeployForm({ ...good(), capital: null }).capital).toBe("Enter capital")
  })

  it("checks typed shares per coin and their total, and sends them as exact fractions", () => {
    const form = { ...good(), equalShares: false, allocation: { BTC: 70, ETH: 40 } }
    expect(checkDeployForm(form).allocation).toBe("The shares add up to 110 %: at most 100 %")
    expect(checkDeployForm({ ...form, allocation: { BTC: 70, ETH: null } })["allocation.ETH"]).toBe("Enter a share for ETH")
    const ok = { ...form, allocation: { BTC: 66.6, ETH: 33.3 } }
    expect(checkDeployForm(ok)).toEqual({})
    expect(deployRequest(ok).allocation).toEqual({ BTC: "0.666", ETH: "0.333" })
  })

  it("keeps a trained release to the coins it has models for", () => {
    expect(checkDeployForm(good(), { release: { ...release, trained_coins: ["BTC"] } }).coins).toBe("This release has fitted models for BTC only")
  })

  it("spells out every live requirement that is not met", () => {
    const live = { ...good(), mode: "live" as const }
    const errors = checkDeployForm(live, { release: { ...release, paper_hours: 2.5 }, credentials: null })
    expect(errors.credentials).toContain("needs your Coinspot API keys")
    expect(errors.mode).toBe("This release has traded on paper for 2.5 h; live trading needs 24 h on paper first")
    expect(errors.acknowledge).toBe("Confirm that this deployment trades real money")
    expect(checkDeployForm({ ...live, acknowledge: true }, { release, credentials: keys })).toEqual({})
    expect(deployRequest({ ...live, acknowledge: true }).acknowledge_real_money).toBe(true)
  })

  it("explains keys that cannot trade", () => {
    expect(credentialProblem({ ...keys, permission_level: "read_only" })).toContain("read-only")
    expect(credentialProblem({ ...keys, validation_status: "invalid_key" })).toContain("not passed a check")
    expect(credentialProblem(keys)).toBeUndefined()
    expect(paperTimeProblem(release)).toBeUndefined()
  })

  it("writes the real-money acknowledgement with the amount and coins", () => {
    expect(realMoneyText(2500, ["BTC"])).toContain("2,500 AUD of my money in BTC")
  })

  it("puts the server's 422s next to the fields", () => {
    const error = new ApiError(422, "bad", [
      { loc: ["body", "risk_limits", "max_spread_fraction"], msg: "Input should be less than or equal to 1" },
      { loc: ["body", "capital"], msg: "Input should be greater than 0" },
    ])
    const mapped = mapFieldErrors(error, deployFieldSpecs(good().limits), DEPLOY_STRING_RULES)
    expect(mapped.fields["limits.max_spread_fraction"]).toBe("Widest spread must be more than 0 % and at most 100 %")
    expect(mapped.fields.capital).toBe("Capital must be more than 0")
    const live = mapFieldErrors(new ApiError(422, "no", "live trading needs 24 h of paper trading; this release has 1.0 h"), deployFieldSpecs({}), DEPLOY_STRING_RULES)
    expect(live.fields.mode).toContain("paper")
    const keysError = mapFieldErrors(new ApiError(422, "no", "Coinspot credentials are read-only"), deployFieldSpecs({}), DEPLOY_STRING_RULES)
    expect(keysError.fields.credentials).toContain("read-only")
  })
})
