/**
 * The session's access token. It lives in memory only (never in localStorage, where a script
 * injected into the page could read it); a page load gets a fresh one from the HttpOnly refresh
 * cookie (silent refresh). A non-secret flag in localStorage remembers that a refresh cookie
 * probably exists, so a visitor who never signed in causes no refresh call.
 */

const FLAG = "omc.signed_in"
const LEGACY_KEY = "omc.access_token"

let accessToken: string | null = null
const listeners = new Set<(token: string | null) => void>()

export function readToken(): string | null {
  return accessToken
}

export function writeToken(token: string | null): void {
  accessToken = token
  if (token) window.localStorage.setItem(FLAG, "1")
  else window.localStorage.removeItem(FLAG)
  window.localStorage.removeItem(LEGACY_KEY)
  for (const listener of listeners) listener(token)
}

export function mayHaveSession(): boolean {
  return window.localStorage.getItem(FLAG) === "1"
}

export function onTokenChange(listener: (token: string | null) => void): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}
