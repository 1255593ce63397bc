import { expect, test, type Page } from "@playwright/test"

// The Coinspot keys page against the simulator that scripts/test-frontend.sh starts with one
// account (E2E_COINSPOT_KEY / E2E_COINSPOT_SECRET): store, masked view, validate, replace, delete.
const email = process.env.E2E_EMAIL ?? ""
const password = process.env.E2E_PASSWORD ?? ""
const apiKey = process.env.E2E_COINSPOT_KEY ?? ""
const apiSecret = process.env.E2E_COINSPOT_SECRET ?? ""

async function login(page: Page): Promise<void> {
  await page.goto("/login")
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")
}

async function shots(page: Page, name: string): Promise<void> {
  for (const width of [1440, 390]) {
    await page.setViewportSize({ width, height: 900 })
    await page.screenshot({ path: `test-results/screenshots/${name}-${width}.png`, fullPage: true })
  }
  await page.setViewportSize({ width: 1280, height: 800 })
}

test("Coinspot keys: stored, shown masked, validated against the simulator, replaced and deleted", async ({ page }) => {
  expect(apiKey.length, "E2E_COINSPOT_KEY comes from scripts/test-frontend.sh").toBeGreaterThanOrEqual(16)
  const errors: string[] = []
  page.on("pageerror", (error) => errors.push(error.message))
  await login(page)

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

  // Store: afterwards only the masked key is on the page, never the secret.
  await page.getByLabel("Label").fill("E2E account")
  await page.locator("#cred-key").fill(apiKey)
  await page.getByTestId("credentials-save").click()
  await expect(page.getByTestId("credentials-masked")).toBeVisible()
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
  await page.getByTestId("credentials-replace").click()
  await page.locator("#cred-key").fill("unknownkey0123456789")
  await page.locator("#cred-secret").fill("unknownsecret0123456789")
  await page.getByTestId("credentials-save").click()
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
