import { defineStore } from "pinia"
import { ref } from "vue"

import { unwrap } from "@/api/errors"
import { writeToken } from "@/api/token"
import {
  securityListLoginEvents,
  securityListSessions,
  securityRegenerateRecoveryCodes,
  securityRevokeAllSessions,
  securityRevokeSession,
  securityStepUp,
  securityTwoFactorConfirm,
  securityTwoFactorDisable,
  securityTwoFactorSetup,
  securityTwoFactorStatus,
} from "@/client/sdk.gen"
import type { LoginEventPublic, SessionPublic, TwoFactorSetup, TwoFactorStatus } from "@/client/types.gen"

/**
 * Account security: two-factor enrolment, step-up, sessions and the sign-in history.
 * Secrets shown once (the TOTP key, recovery codes) live here only until the page is left.
 */
export const useSecurityStore = defineStore("security", () => {
  const status = ref<TwoFactorStatus | null>(null)
  const setup = ref<TwoFactorSetup | null>(null)
  const recoveryCodes = ref<string[]>([])
  const sessions = ref<SessionPublic[]>([])
  const events = ref<LoginEventPublic[]>([])
  const stepUpUntil = ref<Date | null>(null)

  async function loadStatus(): Promise<void> {
    status.value = await unwrap(securityTwoFactorStatus())
  }

  async function beginSetup(): Promise<void> {
    recoveryCodes.value = []
    setup.value = await unwrap(securityTwoFactorSetup())
  }

  async function confirmSetup(code: string): Promise<void> {
    const result = await unwrap(securityTwoFactorConfirm({ body: { code: code.trim() } }))
    recoveryCodes.value = result.recovery_codes
    setup.value = null
    await loadStatus()
  }

  async function disable(password: string, code: string): Promise<void> {
    await unwrap(securityTwoFactorDisable({ body: { password, code: code.trim() } }))
    recoveryCodes.value = []
    await loadStatus()
  }

  async function regenerateCodes(code: string): Promise<void> {
    const result = await unwrap(securityRegenerateRecoveryCodes({ body: { code: code.trim() } }))
    recoveryCodes.value = result.recovery_codes
    await loadStatus()
  }

  /** Confirm a current code so that sensitive actions work for a few minutes. */
  async function stepUp(code: string): Promise<Date> {
    const grant = await unwrap(securityStepUp({ body: { code: code.trim() } }))
    stepUpUntil.value = new Date(grant.valid_until)
    return stepUpUntil.value
  }

  async function loadSessions(): Promise<void> {
    const [list, history] = await Promise.all([
      unwrap(securityListSessions()),
      unwrap(securityListLoginEvents({ query: { limit: 50 } })),
    ])
    sessions.value = list.data
    events.value = history.data
  }

  async function signOutSession(id: string): Promise<void> {
    await unwrap(securityRevokeSession({ path: { session_id: id } }))
    await loadSessions()
  }

  /** Every session ends, this one included: the caller goes back to the login page. */
  async function signOutEverywhere(): Promise<void> {
    await unwrap(securityRevokeAllSessions())
    sessions.value = []
    writeToken(null)
  }

  function forgetSecrets(): void {
    setup.value = null
    recoveryCodes.value = []
  }

  return {
    status,
    setup,
    recoveryCodes,
    sessions,
    events,
    stepUpUntil,
    loadStatus,
    beginSetup,
    confirmSetup,
    disable,
    regenerateCodes,
    stepUp,
    loadSessions,
    signOutSession,
    signOutEverywhere,
    forgetSecrets,
  }
})

/** The header the API sets on a 403 that a fresh second factor would lift. */
export const STEP_UP_HEADER = "X-Step-Up-Required"

/** Whether a code looks like a TOTP (6 digits) or a recovery code (xxxx-xxxx-xxxx-xxxx). */
export function codeProblem(code: string): string | null {
  const value = code.replace(/\s/g, "")
  if (!value) return "Enter a code."
  if (/^\d{6}$/.test(value) || /^[a-z0-9]{4}(-?[a-z0-9]{4}){3}$/i.test(value)) return null
  return "A code is 6 digits (or a recovery code like abcd-efgh-jkmn-pqrs)."
}
