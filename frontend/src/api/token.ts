/** Where the session's access token lives between page loads. */

const KEY = "omc.access_token"

export function readToken(): string | null {
  return window.localStorage.getItem(KEY)
}

export function writeToken(token: string | null): void {
  if (token) window.localStorage.setItem(KEY, token)
  else window.localStorage.removeItem(KEY)
}
