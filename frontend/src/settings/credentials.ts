/**
 * The Coinspot keys form: client-side checks (the server checks again) and plain words for
 * the statuses the credentials API answers with.
 *
 * Rules kept here: the secret is never echoed in a message; checks mirror the server's
 * (key 16–128, secret 16–256 characters of ASCII letters, digits and - _ + / = .).
 */
import type { AuditAction, AuditOutcome, PermissionLevel, ValidationStatus } from "@/client/types.gen"

const ALLOWED = /^[A-Za-z0-9\-_+/=.]+$/

export interface KeyForm {
  label: string
  apiKey: string
  apiSecret: string
}

export type KeyFormErrors = Partial<Record<keyof KeyForm, string>>

function checkPart(value: string, what: string, max: number): string | undefined {
  const trimmed = value.trim()
  if (!trimmed) return `Enter the ${what}`
  if (trimmed.length < 16) return `The ${what} is too short: Coinspot's are at least 16 characters`
  if (trimmed.length > max) return `The ${what} is too long: at most ${max} characters`
  if (!ALLOWED.test(trimmed)) return `The ${what} may only hold letters, digits and - _ + / = .`
  return undefined
}

export function checkKeyForm(form: KeyForm): KeyFormErrors {
  const errors: KeyFormErrors = {}
  if (form.label.length > 100) errors.label = "The label is too long (100 characters at most)"
  const key = checkPart(form.apiKey, "API key", 128)
  if (key) errors.apiKey = key
  const secret = checkPart(form.apiSecret, "API secret", 256)
  if (secret) errors.apiSecret = secret
  return errors
}

export const STATUS_TEXT: Record<ValidationStatus, string> = {
  not_validated: "Not checked yet",
  valid: "Valid",
  invalid_key: "Coinspot refused the key",
  invalid_signature: "Coinspot refused the signature (check the secret)",
  rate_limited: "Coinspot asked us to slow down; try again in a minute",
  exchange_unavailable: "Coinspot could not be reached",
  exchange_error: "Coinspot answered with an error",
}

export const PERMISSION_TEXT: Record<PermissionLevel, string> = {
  unknown: "Unknown until checked",
  read_only: "Read-only (can see balances, cannot trade)",
  full_access: "Full access (can trade)",
}

export const ACTION_TEXT: Record<AuditAction, string> = {
  create: "Stored",
  update: "Replaced",
  delete: "Deleted",
  validate: "Checked",
  rotate_key: "Re-encrypted",
}

export const OUTCOME_TEXT: Record<AuditOutcome, string> = {
  success: "done",
  conflict: "refused: keys already stored",
  not_found: "no keys stored",
  undecryptable: "stored keys could not be decrypted",
  encryption_not_configured: "encryption not configured on the server",
  throttled: "too many checks",
  valid: "valid",
  invalid_key: "key refused",
  invalid_signature: "signature refused",
  rate_limited: "rate limited by Coinspot",
  exchange_unavailable: "Coinspot unreachable",
  exchange_error: "Coinspot error",
}

/** The masked key: bullets and the last four characters the server shows. */
export function maskedKey(last4: string): string {
  return `•••• •••• ${last4}`
}
