import { createPinia, setActivePinia } from "pinia"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"

import { client } from "@/client/client.gen"

import { useAuthStore } from "../auth"

// The store talks to the backend through the generated client; here a fake fetch stands in for
// the server so the store's own logic (token handling, error paths) is what is tested.
function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } })
}

const user = { id: "u1", email: "ada@example.com", display_name: "ada", is_active: true, is_superuser: false }

describe("auth store", () => {
  let fetchMock: ReturnType<typeof vi.fn>

  beforeEach(() => {
    window.localStorage.clear()
    setActivePinia(createPinia())
    fetchMock = vi.fn()
    client.setConfig({ baseUrl: "http://omc.test", fetch: fetchMock as unknown as typeof fetch })
  })

  afterEach(() => {
    client.setConfig({ fetch: undefined })
  })

  it("logs in, keeps the token and loads the user", async () => {
    fetchMock.mockImplementation(async (request: Request) => {
      if (request.url.endsWith("/api/v1/login/access-token")) {
        expect(await request.text()).toBe("username=ada%40example.com&password=s3cret%21")
        return json(200, { access_token: "tok-123", token_type: "bearer" })
      }
      return json(200, user)
    })
    const auth = useAuthStore()
    await auth.login(" ada@example.com ", "s3cret!")
    expect(auth.isLoggedIn).toBe(true)
    expect(window.localStorage.getItem("omc.access_token")).toBe("tok-123")
    expect(auth.displayName).toBe("ada")
  })

  it("reports the server's detail on a wrong password and stays logged out", async () => {
    fetchMock.mockResolvedValue(json(400, { detail: "Incorrect email or password" }))
    const auth = useAuthStore()
    await expect(auth.login("ada@example.com", "nope")).rejects.toThrow("Incorrect email or password")
    expect(auth.isLoggedIn).toBe(false)
    expect(window.localStorage.getItem("omc.access_token")).toBeNull()
  })

  it("forgets a token the server rejects", async () => {
    window.localStorage.setItem("omc.access_token", "stale")
    setActivePinia(createPinia())
    fetchMock.mockResolvedValue(json(401, { detail: "Token has expired" }))
    const auth = useAuthStore()
    expect(auth.isLoggedIn).toBe(true)
    await expect(auth.loadUser()).rejects.toThrow("Token has expired")
    expect(auth.isLoggedIn).toBe(false)
    expect(window.localStorage.getItem("omc.access_token")).toBeNull()
  })

  it("logout clears the token and the user", () => {
    window.localStorage.setItem("omc.access_token", "tok")
    setActivePinia(createPinia())
    const auth = useAuthStore()
    auth.logout()
    expect(auth.isLoggedIn).toBe(false)
    expect(auth.user).toBeNull()
    expect(window.localStorage.getItem("omc.access_token")).toBeNull()
  })
})
