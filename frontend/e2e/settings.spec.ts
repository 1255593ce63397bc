import { expect, test, type Page } from "@playwright/test"

import { enrolTwoFactor, signUp, type Authenticator } from "./helpers/totp"

// The Coinspot keys page against the simulator that scripts/test-frontend.sh starts with one
// account (E2E_COINSPOT_KEY / E2E_COINSPOT_SECRET): store, masked view, validate, replace, delete.
// Storing keys needs 2FA and a fresh code (step-up), so the journey runs as a user of its own
// that enrols: the shared superuser (E2E_EMAIL) stays without 2FA for the other specs.
const email = process.env.E2E_EMAIL ?? ""
const password = process.env.E2E_PASSWORD ?? ""
const apiKey = process.env.E2E_COINSPOT_KEY ?? ""
const apiSecret = process.env.E2E_COINSPOT_SECRET ?? ""

async function login(page: Page, account = { email, password }): Promise<void> {
  await page.goto("/login")
  await page.getByLabel("Email").fill(account.email)
  await page.locator("#password").fill(account.password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")
}

/** Save the keys form; when the page asks for a fresh code (step-up), give the next one. */
async function saveKeys(page: Page, authenticator: Authenticator): Promise<void> {
  await page.getByTestId("credentials-save").click()
  const prompt = page.getByTestId("credentials-step-up")
  await expect(page.getByTestId("credentials-masked").or(prompt)).toBeVisible()
  if (await prompt.isVisible()) await passStepUp(page, authenticator)
}

async function passStepUp(page: Page, authenticator: Authenticator): Promise<void> {
  await expect(page.getByTestId("credentials-step-up")).toBeVisible()
  await page.getByTestId("step-up-code").fill(await authenticator.nextCode())
  await page.getByTestId("step-up-submit").click()
  await expect(page.getByTestId("credentials-step-up")).toHaveCount(0)
  await expect(page.getByTestId("credentials-masked")).toBeVisible()
}

async function shots(page: Page, name: string): Promise<void> {
  for (const width of [1440, 390]) {
    await page.setViewportSize({ width, height: 900 })
    await page.screenshot({ path: `test-results/screenshots/${name}-${width}.png`, fullPage: true })
  }
  await page.setViewportSize({ width: 1280, height: 800 })
}

test("Coinspot keys: stored, shown masked, validated against the simulator, replaced and deleted", async ({ page, request }) => {
  // Enrolling and step-up may wait for the next 30-second TOTP step.
  test.setTimeout(150_000)
  expect(apiKey.length, "E2E_COINSPOT_KEY comes from scripts/test-frontend.sh").toBeGreaterThanOrEqual(16)
  const errors: string[] = []
  page.on("pageerror", (error) => errors.push(error.message))
  await login(page, await signUp(request, "keys"))

  await page.getByTestId("nav-settings").click()
  await expect(page.getByTestId("page-title")).toHaveText("Settings")
  await shots(page, "settings")
  await page.getByTestId("settings-coinspot").click()
  await expect(page.getByTestId("page-title")).toHaveText("Coinspot API keys")
  await expect(page.getByTestId("credentials-none")).toBeVisible()

  // A malformed key is refused at its field, before anything is sent.
  await page.locator("#cred-key").fill("short")
  await page.locator("#cred-secret").fill(apiSecret)
  await page.getByTestId("credentials-save").click()
  await expect(page.getByTestId("error-apiKey")).toContainText("too short")
  await expect(page.getByTestId("credentials-masked")).toHaveCount(0)

  // Without 2FA the server refuses to store keys: the page says how to turn it on and keeps the input.
  await page.getByLabel("Label").fill("E2E account")
  await page.locator("#cred-key").fill(apiKey)
  await page.getByTestId("credentials-save").click()
  await expect(page.getByTestId("credentials-enrol")).toContainText("two-factor authentication")
  await expect(page.getByTestId("credentials-error")).toHaveCount(0)
  await expect(page.locator("#cred-key")).toHaveValue(apiKey)
  await expect(page.locator("#cred-secret")).toHaveValue(apiSecret)
  await expect(page.getByTestId("credentials-masked")).toHaveCount(0)
  await shots(page, "settings-coinspot-enrol")

  // The link opens Settings › Security in a new tab; enrol there, come back, save again.
  const [security] = await Promise.all([page.context().waitForEvent("page"), page.getByTestId("credentials-enrol-link").click()])
  await security.waitForURL("**/settings/security")
  const authenticator = await enrolTwoFactor(security)
  await security.close()

  // Store (with a fresh code if the page asks for one): afterwards only the masked key is on
  // the page, never the secret.
  await expect(page.locator("#cred-key")).toHaveValue(apiKey)
  await saveKeys(page, authenticator)
  await expect(page.getByTestId("credentials-key")).toHaveText(`•••• •••• ${apiKey.slice(-4)}`)
  await expect(page.getByTestId("credentials-label")).toHaveText("E2E account")
  await expect(page.getByTestId("credentials-status")).toHaveText("Not checked yet")
  const html = await page.content()
  expect(html).not.toContain(apiSecret)
  expect(html).not.toContain(apiKey)

  // Validate against the simulator: valid, full access, with the balances it holds.
  await page.getByTestId("credentials-validate").click()
  await expect(page.getByTestId("validation-result")).toContainText("Valid")
  await expect(page.getByTestId("validation-result")).toContainText("AUD")
  await expect(page.getByTestId("credentials-status")).toHaveText("Valid")
  await expect(page.getByTestId("credentials-permission")).toContainText("Full access")
  await expect(page.getByTestId("credentials-audit")).toContainText("Checked")
  await shots(page, "settings-coinspot")

  // Replace with keys the exchange does not know: the check says so with Coinspot's message.
  // The step-up grant lasts minutes, so the server would still accept the change: answer the
  // first attempt as the server does once the grant has run out, to go through the prompt.
  let refused = false
  await page.route("**/api/v1/credentials/coinspot", async (route) => {
    if (route.request().method() !== "PUT" || refused) return route.fallback()
    refused = true
    await route.fulfill({
      status: 403,
      headers: { "Content-Type": "application/json", "X-Step-Up-Required": "totp" },
      body: JSON.stringify({ detail: "Confirm a current authentication code first" }),
    })
  })
  await page.getByTestId("credentials-replace").click()
  await page.locator("#cred-key").fill("unknownkey0123456789")
  await page.locator("#cred-secret").fill("unknownsecret0123456789")
  await page.getByTestId("credentials-save").click()
  await expect(page.getByTestId("credentials-step-up")).toBeVisible()
  await expect(page.locator("#cred-key")).toHaveValue("unknownkey0123456789")
  await expect(page.locator("#cred-secret")).toHaveValue("unknownsecret0123456789")
  await page.getByTestId("step-up-code").fill("000000")
  await page.getByTestId("step-up-submit").click()
  await expect(page.getByTestId("step-up-error")).toBeVisible()
  await expect(page.locator("#cred-key")).toHaveValue("unknownkey0123456789")
  await passStepUp(page, authenticator)
  expect(refused).toBe(true)
  await page.unroute("**/api/v1/credentials/coinspot")
  await expect(page.getByTestId("credentials-key")).toHaveText("•••• •••• 6789")
  await page.getByTestId("credentials-validate").click()
  await expect(page.getByTestId("validation-result")).toContainText("Coinspot:")
  await expect(page.getByTestId("credentials-status")).not.toHaveText("Valid")

  // Delete: asks first; "keep them" keeps them, "yes" removes them.
  await page.getByTestId("credentials-delete").click()
  await page.getByTestId("credentials-delete-cancel").click()
  await expect(page.getByTestId("credentials-masked")).toBeVisible()
  await page.getByTestId("credentials-delete").click()
  await page.getByTestId("credentials-delete-confirm").click()
  await expect(page.getByTestId("credentials-none")).toBeVisible()
  const audit = page.getByTestId("credentials-audit")
  for (const action of ["Stored", "Checked", "Replaced", "Deleted"]) await expect(audit).toContainText(action)
  expect(errors).toEqual([])
})

test("dark mode follows the system by default and can be switched", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" })
  await login(page)
  const html = page.locator("html")
  await expect(html).toHaveClass(/omc-dark/)
  await page.goto("/settings")
  await page.getByTestId("theme").getByText("Light").click()
  await expect(html).not.toHaveClass(/omc-dark/)
  await page.reload()
  await expect(html).not.toHaveClass(/omc-dark/)
  await page.getByTestId("theme").getByText("Dark").click()
  await expect(html).toHaveClass(/omc-dark/)
  await shots(page, "settings-dark")
  await page.getByTestId("theme").getByText("Follow the system").click()
  await page.emulateMedia({ colorScheme: "light" })
  await expect(html).not.toHaveClass(/omc-dark/)
})
