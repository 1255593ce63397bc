/** The profile form: its fields, client-side checks (the server checks again) and payload. */
import type { FieldSpec } from "@/api/fields"
import type { UserPublic, UserUpdateMe } from "@/client/types.gen"

export interface ProfileForm {
  full_name: string
  display_name: string
  timezone: string
  base_currency: string
  max_position_size_aud: number | null
  daily_loss_limit_aud: number | null
}

export type ProfileErrors = Partial<Record<keyof ProfileForm, string>>

/** Where the server's validation errors about the profile go. */
export const PROFILE_FIELD_SPECS: Record<string, FieldSpec<keyof ProfileForm>> = {
  full_name: { field: "full_name", label: "Full name" },
  display_name: { field: "display_name", label: "Display name" },
  timezone: { field: "timezone", label: "Time zone" },
  base_currency: { field: "base_currency", label: "Base currency" },
  max_position_size_aud: { field: "max_position_size_aud", label: "Max position size" },
  daily_loss_limit_aud: { field: "daily_loss_limit_aud", label: "Daily loss limit" },
}

export const BASE_CURRENCIES = ["AUD"] as const
// The backend stores risk limits as NUMERIC(14, 2).
export const MAX_RISK_AUD = 1_000_000_000

export function timezoneNames(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] }
  const names = intl.supportedValuesOf?.("timeZone") ?? []
  return names.includes("UTC") ? names : ["UTC", ...names]
}

function toAmount(value: string | undefined): number | null {
  if (value === undefined || value === null || value === "") return null
  const parsed = Number(value)
  return Number.isFinite(parsed) ? parsed : null
}

export function formFromUser(user: UserPublic): ProfileForm {
  return {
    full_name: user.full_name ?? "",
    display_name: user.display_name ?? "",
    timezone: user.timezone ?? "UTC",
    base_currency: user.base_currency ?? "AUD",
    max_position_size_aud: toAmount(user.max_position_size_aud),
    daily_loss_limit_aud: toAmount(user.daily_loss_limit_aud),
  }
}

function checkAmount(value: number | null, label: string): string | undefined {
  if (value === null) return `${label} is required`
  if (!Number.isFinite(value)) return `${label} must be a number`
  if (value < 0) return `${label} cannot be negative`
  if (value > MAX_RISK_AUD) return `${label} cannot exceed ${MAX_RISK_AUD.toLocaleString("en-AU")} AUD`
  // Compare with a tolerance: 1.1 * 100 is 110.00000000000001 in floating point.
  if (Math.abs(value * 100 - Math.round(value * 100)) > 1e-6) return `${label} allows at most 2 decimal places`
  return undefined
}

export function validateProfile(form: ProfileForm, zones: readonly string[]): ProfileErrors {
  const errors: ProfileErrors = {}
  if (form.display_name.trim().length > 100) errors.display_name = "Display name is too long (100 characters at most)"
  if (form.full_name.length > 255) errors.full_name = "Full name is too long (255 characters at most)"
  if (!zones.includes(form.timezone)) errors.timezone = "Choose a time zone from the list"
  if (!(BASE_CURRENCIES as readonly string[]).includes(form.base_currency)) {
    errors.base_currency = `Base currency must be one of ${BASE_CURRENCIES.join(", ")}`
  }
  const maxPosition = checkAmount(form.max_position_size_aud, "Max position size")
  if (maxPosition) errors.max_position_size_aud = maxPosition
  const dailyLoss = checkAmount(form.daily_loss_limit_aud, "Daily loss limit")
  if (dailyLoss) errors.daily_loss_limit_aud = dailyLoss
  return errors
}

/** The PATCH body: amounts as fixed-point strings so no float rounding reaches the server.
 * A risk limit always has a value (the server refuses null); validateProfile stops an empty
 * one before this is called, and an absent amount would leave the stored limit unchanged. */
export function updateFromForm(form: ProfileForm): UserUpdateMe {
  return {
    full_name: form.full_name.trim() || null,
    display_name: form.display_name.trim() || null,
    timezone: form.timezone,
    base_currency: form.base_currency,
    max_position_size_aud: form.max_position_size_aud?.toFixed(2),
    daily_loss_limit_aud: form.daily_loss_limit_aud?.toFixed(2),
  }
}
