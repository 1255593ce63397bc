/**
 * Silent refresh: exchange the HttpOnly refresh cookie for a new access token.
 *
 * The server rotates the refresh token on every use and treats a replayed one as theft (it ends
 * the session), so refreshes must never overlap: one in flight per tab, and across tabs the Web
 * Locks API serialises them (the second tab then sends the already rotated cookie).
 */
import { readToken, writeToken } from "./token"

const REFRESH_URL = "/api/v1/login/refresh"
let inFlight: Promise<string | null> | null = null

async function refreshOnce(baseUrl: string, seen: string | null): Promise<string | null> {
  // Another tab may have refreshed while we waited for the lock.
  const current = readToken()
  if (current && current !== seen) return current
  const response = await globalThis.fetch(`${baseUrl}${REFRESH_URL}`, { method: "POST", credentials: "include" })
  if (!response.ok) {
    writeToken(null)
    return null
  }
  const body = (await response.json()) as { access_token: string }
  writeToken(body.access_token)
  return body.access_token
}

export function refreshAccessToken(baseUrl = ""): Promise<string | null> {
  if (inFlight) return inFlight
  const seen = readToken()
  const run = (): Promise<string | null> => refreshOnce(baseUrl, seen)
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined
  const started: Promise<string | null> = locks
    ? // The DOM typings wrap the callback's promise once more; at run time it is flattened.
      (locks.request("omc-refresh", run) as unknown as Promise<string | null>)
    : run()
  const tracked = started.finally(() => {
    inFlight = null
  })
  inFlight = tracked
  return tracked
}
