import { createPinia, setActivePinia } from "pinia"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"

import { refreshAccessToken } from "@/api/refresh"
import { readToken, writeToken } from "@/api/token"
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
    writeToken(null)
    setActivePinia(createPinia())
    fetchMock = vi.fn()
    client.setConfig({ baseUrl: "http://omc.test", fetch: fetchMock as unknown as typeof fetch })
  })

  afterEach(() => {
    client.setConfig({ fetch: undefined })
    vi.unstubAllGlobals()
  })

  it("logs in, keeps the token in memory only and loads the user", async () => {
    fetchMock.mockImplementation(async (request: Request) => {
      if (request.url.endsWith("/api/v1/login/access-token")) {
        expect(await request.text()).toBe("username=ada%40example.com&password=s3cret%21")
        return json(200, { access_token: "tok-123", token_type: "bearer", two_factor_required: false })
      }
      return json(200, user)
    })
    const auth = useAuthStore()
    expect(await auth.login(" ada@example.com ", "s3cret!")).toBe("done")
    expect(auth.isLoggedIn).toBe(true)
    expect(readToken()).toBe("tok-123")
    expect(JSON.stringify(window.localStorage)).not.toContain("tok-123")
    expect(window.localStorage.getItem("omc.signed_in")).toBe("1")
    expect(auth.displayName).toBe("ada")
  })

  it("asks for a code when two-factor authentication is on", async () => {
    fetchMock.mockImplementation(async (request: Request) => {
      if (request.url.endsWith("/login/access-token")) {
        return json(200, { access_token: null, two_factor_required: true, mfa_token: "mfa-1" })
      }
      if (request.url.endsWith("/login/two-factor")) {
        expect(await request.json()).toEqual({ mfa_token: "mfa-1", code: "123456" })
        return json(200, { access_token: "tok-2fa", token_type: "bearer", expires_in: 600 })
      }
      return json(200, user)
    })
    const auth = useAuthStore()
    expect(await auth.login("ada@example.com", "pw-123456")).toBe("two_factor")
    expect(auth.isLoggedIn).toBe(false)
    await auth.loginWithCode(" 123456 ")
    expect(auth.isLoggedIn).toBe(true)
    expect(readToken()).toBe("tok-2fa")
  })

  it("reports the server's detail on a wrong password and stays logged out", async () => {
    fetchMock.mockResolvedValue(json(400, { detail: "Incorrect email or password" }))
    const auth = useAuthStore()
    await expect(auth.login("ada@example.com", "nope")).rejects.toThrow("Incorrect email or password")
    expect(auth.isLoggedIn).toBe(false)
    expect(window.localStorage.getItem("omc.signed_in")).toBeNull()
  })

  it("forgets a token the server rejects", async () => {
    writeToken("stale")
    fetchMock.mockResolvedValue(json(401, { detail: "Token has expired" }))
    const auth = useAuthStore()
    expect(auth.isLoggedIn).toBe(true)
    await expect(auth.loadUser()).rejects.toThrow("Token has expired")
    expect(auth.isLoggedIn).toBe(false)
    expect(window.localStorage.getItem("omc.signed_in")).toBeNull()
  })

  it("signOut ends the session on the server and clears the token and the user", async () => {
    writeToken("tok")
    fetchMock.mockResolvedValue(json(200, { message: "Signed out" }))
    const auth = useAuthStore()
    await auth.signOut()
    expect((fetchMock.mock.calls[0]![0] as Request).url).toMatch(/\/login\/logout$/)
    expect(auth.isLoggedIn).toBe(false)
    expect(auth.user).toBeNull()
    expect(window.localStorage.getItem("omc.signed_in")).toBeNull()
  })

  it("restores the session from the refresh cookie only when there may be one", async () => {
    const refresh = vi.fn(async () => json(200, { access_token: "fresh", expires_in: 600 }))
    vi.stubGlobal("fetch", refresh)
    const auth = useAuthStore()
    await auth.restore()
    expect(refresh).not.toHaveBeenCalled()
    window.localStorage.setItem("omc.signed_in", "1")
    await auth.restore()
    expect(refresh).toHaveBeenCalledTimes(1)
    expect(auth.token).toBe("fresh")
  })
})

describe("silent refresh", () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    writeToken(null)
  })

  it("runs one refresh for concurrent callers (a replayed refresh token would end the session)", async () => {
    let release: (value: Response) => void = () => undefined
    const refresh = vi.fn(() => new Promise<Response>((resolve) => (release = resolve)))
    vi.stubGlobal("fetch", refresh)
    const first = refreshAccessToken()
    const second = refreshAccessToken()
    await Promise.resolve()
    release(json(200, { access_token: "new-token", expires_in: 600 }))
    expect(await first).toBe("new-token")
    expect(await second).toBe("new-token")
    expect(refresh).toHaveBeenCalledTimes(1)
  })

  it("forgets the session when the refresh is refused", async () => {
    writeToken("old")
    vi.stubGlobal("fetch", vi.fn(async () => json(401, { detail: "Session has ended; sign in again" })))
    expect(await refreshAccessToken()).toBeNull()
    expect(readToken()).toBeNull()
  })
})
