import { expect, test } from "@playwright/test"

import { currentStep, totp } from "./helpers/totp"

test("enrol 2FA, log in with a code, see the sessions, sign out everywhere", async ({ page, request }) => {
  const errors: string[] = []
  let signedOutEverywhere = false
  page.on("pageerror", (error) => errors.push(error.message))
  page.on("console", (message) => {
    if (message.type() !== "error") return
    // Once every session is revoked, a request already on its way (the header's alert count)
    // is answered 401, which is what revoking means; before that, a 401 is a bug.
    if (signedOutEverywhere && message.text().includes("status of 401")) return
    errors.push(message.text())
  })

  const email = `sec-${Date.now()}@example.com`
  const password = `pw-${Math.random().toString(36).slice(2)}-x`
  const signup = await request.post("/api/v1/users/signup", { data: { email, password } })
  expect(signup.ok()).toBe(true)

  await page.goto("/login")
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")

  // Enrol: read the manual key from the page, as a person would type it into an app.
  await page.getByTestId("nav-settings").click()
  await page.getByTestId("settings-security-link").click()
  await expect(page.getByTestId("page-title")).toHaveText("Security")
  await page.getByTestId("totp-start").click()
  await expect(page.getByTestId("totp-qr")).toBeVisible()
  const secret = (await page.getByTestId("totp-secret").textContent())?.trim() ?? ""
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/)
  await page.getByTestId("totp-confirm-code").fill("12345")
  await page.getByTestId("totp-confirm").click()
  await expect(page.getByTestId("confirm-error")).toContainText("6 digits")
  const enrolStep = currentStep()
  await page.getByTestId("totp-confirm-code").fill(totp(secret, enrolStep))
  await page.getByTestId("totp-confirm").click()
  await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10)
  await page.screenshot({ path: "test-results/screenshots/security-recovery-codes.png", fullPage: true })
  await page.getByTestId("recovery-codes-done").click()
  await expect(page.getByTestId("two-factor-on")).toBeVisible()
  await expect(page.getByTestId("recovery-codes-left")).toHaveText("10 recovery codes left.")

  // Log out, then log in again: the password alone is not enough.
  await page.getByTestId("logout").click()
  await expect(page).toHaveURL(/\/login$/)
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("login-code")).toBeVisible()
  // Codes are single-use: the next 30-second step's code (the server accepts one step of drift).
  await page.getByTestId("login-code").fill(totp(secret, Math.max(enrolStep + 1, currentStep())))
  await page.getByTestId("login-code-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")

  // A reload keeps the session: the access token is renewed from the HttpOnly refresh cookie.
  await page.goto("/settings/sessions")
  // Let this load's silent refresh finish first: the refresh token rotates on every use, and a
  // reload that aborts the refresh in flight can lose the rotated cookie and end signed out.
  await expect(page.getByTestId("page-title")).toHaveText("Sessions")
  await page.reload()
  await expect(page.getByTestId("page-title")).toHaveText("Sessions")
  await expect(page.getByTestId("session-row")).toHaveCount(1)
  await expect(page.getByTestId("session-row")).toContainText("This browser")
  await expect(page.getByTestId("login-event").first()).toContainText("Signed in")
  await expect(page.getByTestId("login-events")).toContainText("Password accepted, code asked")
  await page.screenshot({ path: "test-results/screenshots/security-sessions.png", fullPage: true })

  signedOutEverywhere = true
  await page.getByTestId("sign-out-everywhere").click()
  await expect(page).toHaveURL(/\/login$/)
  await page.goto("/settings/sessions")
  await expect(page).toHaveURL(/\/login\?redirect=\/settings\/sessions$/)
  // The refresh cookie no longer works either.
  const refresh = await page.request.post("/api/v1/login/refresh")
  expect(refresh.status()).toBe(401)

  expect(errors).toEqual([])
})
