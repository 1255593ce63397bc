import { defineStore } from "pinia"
import { computed, ref } from "vue"

import { ApiError, unwrap } from "@/api/errors"
import { readToken, writeToken } from "@/api/token"
import { loginLoginAccessToken, usersReadUserMe } from "@/client/sdk.gen"
import type { UserPublic } from "@/client/types.gen"

/** The signed-in user and their token. */
export const useAuthStore = defineStore("auth", () => {
  const token = ref<string | null>(readToken())
  const user = ref<UserPublic | null>(null)

  const isLoggedIn = computed(() => token.value !== null)
  const displayName = computed(
    () => user.value?.display_name || user.value?.full_name || user.value?.email || "",
  )

  async function login(email: string, password: string): Promise<void> {
    const result = await unwrap(
      loginLoginAccessToken({ body: { username: email.trim(), password } }),
    )
    token.value = result.access_token
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

  function logout(): void {
    token.value = null
    user.value = null
    writeToken(null)
  }

  return { token, user, isLoggedIn, displayName, login, loadUser, setUser, logout }
})
