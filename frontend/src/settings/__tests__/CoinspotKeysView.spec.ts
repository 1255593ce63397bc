import { flushPromises, mount } from "@vue/test-utils"
import { QueryClient, VueQueryPlugin } from "@tanstack/vue-query"
import { createPinia, setActivePinia } from "pinia"
import PrimeVue from "primevue/config"
import { beforeEach, describe, expect, it, vi } from "vitest"
import { createMemoryHistory, createRouter } from "vue-router"

// The generated client is replaced: each test says how the server answers.
const sdk = vi.hoisted(() => ({
  credentialsReadCredentials: vi.fn(),
  credentialsReadAuditLog: vi.fn(),
  credentialsCreateCredentials: vi.fn(),
  credentialsUpdateCredentials: vi.fn(),
  credentialsValidateCredentials: vi.fn(),
  credentialsDeleteCredentials: vi.fn(),
  securityStepUp: vi.fn(),
}))
vi.mock("@/client/sdk.gen", () => sdk)

import CoinspotKeysView from "../CoinspotKeysView.vue"

const KEY = "abcdefghijklmnop1234"
const SECRET = "secretsecretsecret5678"
const STORED = {
  label: "Coinspot",
  key_last4: "1234",
  key_fingerprint: "f00d",
  permission_level: "unknown",
  validation_status: "not_validated",
  last_validated_at: null,
  created_at: "2026-12-01T00:00:00Z",
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  const response = new Response(JSON.stringify(body), { status, headers })
  return Promise.resolve(status < 400 ? { data: body, response } : { error: body, response })
}

const stepUpRefused = (kind: "enrol" | "totp") => answer(403, { detail: `step-up: ${kind}` }, { "X-Step-Up-Required": kind })

async function mountView() {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: "/settings", name: "settings", component: { template: "<p />" } },
      { path: "/settings/security", name: "settings-security", component: { template: "<p />" } },
      { path: "/settings/coinspot", name: "coinspot-keys", component: CoinspotKeysView },
    ],
  })
  await router.push("/settings/coinspot")
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  const wrapper = mount(CoinspotKeysView, {
    global: { plugins: [router, PrimeVue, [VueQueryPlugin, { queryClient }]] },
    attachTo: document.body,
  })
  await flushPromises()
  return wrapper
}

async function typeKeys(wrapper: Awaited<ReturnType<typeof mountView>>): Promise<void> {
  await wrapper.find("#cred-key").setValue(KEY)
  await wrapper.find("#cred-secret").setValue(SECRET)
  await wrapper.find('[data-testid="credentials-form"]').trigger("submit")
  await flushPromises()
}

const inputValue = (wrapper: Awaited<ReturnType<typeof mountView>>, selector: string) =>
  (wrapper.find(selector).element as HTMLInputElement).value

describe("CoinspotKeysView step-up", () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    vi.resetAllMocks()
    document.body.innerHTML = ""
    sdk.credentialsReadCredentials.mockImplementation(() => answer(404, { detail: "No credentials stored" }))
    sdk.credentialsReadAuditLog.mockImplementation(() => answer(200, { data: [], count: 0 }))
  })

  it("asks for a code on `totp`, then retries the save with what was typed", async () => {
    sdk.credentialsCreateCredentials.mockImplementationOnce(() => stepUpRefused("totp")).mockImplementationOnce(() => answer(201, STORED))
    sdk.securityStepUp.mockImplementation(() => answer(200, { valid_until: "2026-12-01T00:05:00Z" }))
    const wrapper = await mountView()
    await typeKeys(wrapper)

    expect(wrapper.find('[data-testid="credentials-step-up"]').exists()).toBe(true)
    expect(wrapper.find('[data-testid="credentials-error"]').exists()).toBe(false)
    expect(inputValue(wrapper, "#cred-key")).toBe(KEY)
    expect(inputValue(wrapper, "#cred-secret")).toBe(SECRET)

    sdk.credentialsReadCredentials.mockImplementation(() => answer(200, STORED))
    await wrapper.find('[data-testid="step-up-code"]').setValue("123456")
    await wrapper.find('[data-testid="step-up-form"]').trigger("submit")
    await flushPromises()

    expect(sdk.securityStepUp).toHaveBeenCalledWith({ body: { code: "123456" } })
    expect(sdk.credentialsCreateCredentials).toHaveBeenCalledTimes(2)
    expect(sdk.credentialsCreateCredentials).toHaveBeenLastCalledWith({ body: { label: "Coinspot", api_key: KEY, api_secret: SECRET } })
    expect(wrapper.find('[data-testid="credentials-step-up"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="credentials-masked"]').exists()).toBe(true)
  })

  it("keeps the prompt and the input when the code is refused", async () => {
    sdk.credentialsCreateCredentials.mockImplementation(() => stepUpRefused("totp"))
    sdk.securityStepUp.mockImplementation(() => answer(400, { detail: "Invalid code" }))
    const wrapper = await mountView()
    await typeKeys(wrapper)
    await wrapper.find('[data-testid="step-up-code"]').setValue("000000")
    await wrapper.find('[data-testid="step-up-form"]').trigger("submit")
    await flushPromises()

    expect(wrapper.find('[data-testid="step-up-error"]').text()).toContain("Invalid code")
    expect(sdk.credentialsCreateCredentials).toHaveBeenCalledTimes(1)
    expect(inputValue(wrapper, "#cred-key")).toBe(KEY)
    expect(inputValue(wrapper, "#cred-secret")).toBe(SECRET)
  })

  it("on `enrol` points to Settings › Security instead of showing a raw error", async () => {
    sdk.credentialsCreateCredentials.mockImplementation(() => stepUpRefused("enrol"))
    const wrapper = await mountView()
    await typeKeys(wrapper)

    const message = wrapper.find('[data-testid="credentials-enrol"]')
    expect(message.text()).toContain("two-factor authentication")
    expect(wrapper.find('[data-testid="credentials-enrol-link"]').attributes("href")).toBe("/settings/security")
    expect(wrapper.find('[data-testid="credentials-error"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="credentials-step-up"]').exists()).toBe(false)
    expect(inputValue(wrapper, "#cred-key")).toBe(KEY)
    expect(inputValue(wrapper, "#cred-secret")).toBe(SECRET)
  })

  it("shows other failures as an error and keeps the input", async () => {
    sdk.credentialsCreateCredentials.mockImplementation(() => answer(409, { detail: "Credentials already stored" }))
    const wrapper = await mountView()
    await typeKeys(wrapper)

    expect(wrapper.find('[data-testid="credentials-error"]').text()).toContain("Credentials already stored")
    expect(wrapper.find('[data-testid="credentials-enrol"]').exists()).toBe(false)
    expect(inputValue(wrapper, "#cred-key")).toBe(KEY)
  })
})
