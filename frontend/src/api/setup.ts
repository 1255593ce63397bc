import { client } from "@/client/client.gen"

import { refreshAccessToken } from "./refresh"
import { readToken } from "./token"

const NO_RETRY = ["/login/access-token", "/login/two-factor", "/login/refresh", "/login/logout"]

/**
 * Point the generated client at the backend and attach the bearer token to each request.
 * A 401 on a signed-in request triggers one silent refresh and a retry with the new token;
 * `onUnauthorized` runs when that fails too (session revoked or expired, user disabled).
 */
export function configureApiClient(onUnauthorized: () => void): void {
  const baseUrl = import.meta.env.VITE_API_URL ?? ""
  const authFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init)
    const hadToken = request.headers.has("Authorization")
    const retry = hadToken ? request.clone() : null
    const response = await globalThis.fetch(request)
    if (response.status !== 401 || !retry || NO_RETRY.some((path) => request.url.includes(path))) return response
    const token = await refreshAccessToken(baseUrl)
    if (!token) {
      onUnauthorized()
      return response
    }
    retry.headers.set("Authorization", `Bearer ${token}`)
    const second = await globalThis.fetch(retry)
    if (second.status === 401) onUnauthorized()
    return second
  }
  client.setConfig({ baseUrl, fetch: authFetch as typeof fetch })
  client.interceptors.request.use((request) => {
    const token = readToken()
    if (token && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${token}`)
    }
    return request
  })
}
