import { createHmac } from "node:crypto"

import { expect, type Page, type APIRequestContext } from "@playwright/test"

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
export function base32Decode(secret: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
  let bits = ""
  for (const char of secret.replace(/=+$/, "").toUpperCase()) {
    const value = alphabet.indexOf(char)
    if (value < 0) throw new Error(`not base32: ${char}`)
    bits += value.toString(2).padStart(5, "0")
  }
  const bytes = []
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2))
  return Buffer.from(bytes)
}

export function totp(secret: string, step: number): string {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(step))
  const digest = createHmac("sha1", base32Decode(secret)).update(counter).digest()
  const offset = digest[digest.length - 1]! & 0x0f
  const value = (digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000
  return value.toString().padStart(6, "0")
}

export const currentStep = (): number => Math.floor(Date.now() / 30_000)

/**
 * An authenticator that never reuses a code: the server accepts a code of the current step or
 * one either side, but only for a step later than the last one it accepted. So each code comes
 * from the step after the last one used, waiting for the clock when that step is not yet
 * within reach (at most about 30 s).
 */
export class Authenticator {
  constructor(
    readonly secret: string,
    private lastStep = 0,
  ) {}

  async nextCode(): Promise<string> {
    const step = Math.max(this.lastStep + 1, currentStep())
    while (step > currentStep() + 1) await new Promise((resolve) => setTimeout(resolve, 500))
    this.lastStep = step
    return totp(this.secret, step)
  }
}

/** A fresh account through the public signup, so a journey can enrol 2FA without touching the shared superuser. */
export async function signUp(request: APIRequestContext, prefix: string): Promise<{ email: string; password: string }> {
  const email = `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}@example.com`
  const password = `pw-${Math.random().toString(36).slice(2)}-x`
  const signup = await request.post("/api/v1/users/signup", { data: { email, password } })
  expect(signup.ok()).toBe(true)
  return { email, password }
}

/**
 * Enrol in two-factor authentication on Settings › Security as a person would: read the manual
 * key from the page, type the app's code, put the recovery codes away. The page must be logged in.
 */
export async function enrolTwoFactor(page: Page): Promise<Authenticator> {
  // Load the page only when not already there: a second load while the first one's silent
  // refresh is in flight can lose the rotated refresh cookie.
  if (new URL(page.url()).pathname !== "/settings/security") await page.goto("/settings/security")
  await expect(page.getByTestId("page-title")).toHaveText("Security")
  await page.getByTestId("totp-start").click()
  await expect(page.getByTestId("totp-qr")).toBeVisible()
  const secret = (await page.getByTestId("totp-secret").textContent())?.trim() ?? ""
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/)
  const authenticator = new Authenticator(secret)
  await page.getByTestId("totp-confirm-code").fill(await authenticator.nextCode())
  await page.getByTestId("totp-confirm").click()
  await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10)
  await page.getByTestId("recovery-codes-done").click()
  await expect(page.getByTestId("two-factor-on")).toBeVisible()
  return authenticator
}
