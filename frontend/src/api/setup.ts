import { client } from "@/client/client.gen"

import { readToken } from "./token"

/**
 * Point the generated client at the backend and attach the bearer token to each request.
 * `onUnauthorized` runs when the server rejects the token (expired, revoked, user disabled).
 */
export function configureApiClient(onUnauthorized: () => void): void {
  client.setConfig({ baseUrl: import.meta.env.VITE_API_URL ?? "" })
  client.interceptors.request.use((request) => {
    const token = readToken()
    if (token && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${token}`)
    }
    return request
  })
  client.interceptors.response.use((response, request) => {
    const isLogin = request.url.includes("/login/access-token")
    if (response.status === 401 && !isLogin && readToken()) onUnauthorized()
    return response
  })
}
