import { defineStore } from "pinia"
import { computed, ref } from "vue"

import { ApiError, unwrap } from "@/api/errors"
import { refreshAccessToken } from "@/api/refresh"
import { mayHaveSession, onTokenChange, readToken, writeToken } from "@/api/token"
import { loginLoginAccessToken, loginLoginTwoFactor, loginLogout, usersReadUserMe } from "@/client/sdk.gen"
import type { UserPublic } from "@/client/types.gen"

export type LoginStep = "done" | "two_factor"

/** The signed-in user and their (in-memory) access token; the refresh token is an HttpOnly cookie. */
export const useAuthStore = defineStore("auth", () => {
  const token = ref<string | null>(readToken())
  const user = ref<UserPublic | null>(null)
  const mfaToken = ref<string | null>(null)
  let restoring: Promise<void> | null = null
  onTokenChange((value) => {
    token.value = value
    if (!value) user.value = null
  })

  const isLoggedIn = computed(() => token.value !== null)
  const displayName = computed(
    () => user.value?.display_name || user.value?.full_name || user.value?.email || "",
  )

  /** On page load: get an access token from the refresh cookie, once, if there may be one. */
  function restore(): Promise<void> {
    if (token.value || !mayHaveSession()) return Promise.resolve()
    restoring ??= refreshAccessToken(import.meta.env.VITE_API_URL ?? "")
      .then(() => undefined)
      .catch(() => writeToken(null))
      .finally(() => {
        restoring = null
      })
    return restoring
  }

  /** Password step. Returns "two_factor" when an authenticator code is needed next. */
  async function login(email: string, password: string): Promise<LoginStep> {
    const result = await unwrap(
      loginLoginAccessToken({ body: { username: email.trim(), password } }),
    )
    if (result.two_factor_required && result.mfa_token) {
      mfaToken.value = result.mfa_token
      return "two_factor"
    }
    if (!result.access_token) throw new ApiError(500, "The server sent no token.")
    writeToken(result.access_token)
    await loadUser()
    return "done"
  }

  /** Second step: a 6-digit code from the authenticator app, or a recovery code. */
  async function loginWithCode(code: string): Promise<void> {
    if (!mfaToken.value) throw new ApiError(400, "The sign-in step expired; enter your password again")
    const result = await unwrap(loginLoginTwoFactor({ body: { mfa_token: mfaToken.value, code: code.trim() } }))
    mfaToken.value = null
    writeToken(result.access_token)
    await loadUser()
  }

  async function loadUser(): Promise<UserPublic | null> {
    if (!token.value) return null
    try {
      user.value = await unwrap(usersReadUserMe())
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) logout()
      throw error
    }
    return user.value
  }

  function setUser(updated: UserPublic): void {
    user.value = updated
  }

  /** Forget the session locally (the server already refused it). */
  function logout(): void {
    mfaToken.value = null
    user.value = null
    writeToken(null)
  }

  /** End this browser's session on the server too (revokes the refresh cookie). */
  async function signOut(): Promise<void> {
    try {
      await loginLogout()
    } finally {
      logout()
    }
  }

  return { token, user, mfaToken, isLoggedIn, displayName, restore, login, loginWithCode, loadUser, setUser, logout, signOut }
})
