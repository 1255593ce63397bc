import { expect, test, type Page } from "@playwright/test"

const email = process.env.E2E_EMAIL ?? ""
const password = process.env.E2E_PASSWORD ?? ""

test.beforeAll(() => {
  expect(email, "E2E_EMAIL must name the superuser").not.toBe("")
  expect(password, "E2E_PASSWORD must be set").not.toBe("")
})

const consoleErrors: string[] = []

test.beforeEach(({ page }) => {
  consoleErrors.length = 0
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text())
  })
  page.on("pageerror", (error) => consoleErrors.push(error.message))
})

async function logIn(page: Page, user: string, secret: string): Promise<void> {
  await page.goto("/login")
  await page.getByLabel("Email").fill(user)
  await page.locator("#password").fill(secret)
  await page.getByTestId("login-submit").click()
}

test("a wrong password is refused with the server's message", async ({ page }) => {
  await logIn(page, email, `${password}-wrong`)
  await expect(page.getByTestId("login-error")).toHaveText("Incorrect email or password")
  await expect(page).toHaveURL(/\/login$/)
  // The only console error allowed is the browser's own report of the 400 response.
  expect(consoleErrors.filter((text) => !text.includes("status of 400"))).toEqual([])
})

test("a protected page sends a visitor to the login page and back after login", async ({ page }) => {
  await page.goto("/lab")
  await expect(page).toHaveURL(/\/login\?redirect=\/lab$/)
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page).toHaveURL(/\/lab$/)
  await expect(page.getByTestId("page-title")).toHaveText("Lab")
})

test("log in, see the layout, edit the profile, log out", async ({ page }) => {
  await logIn(page, email, password)

  await expect(page).toHaveURL(/\/$/)
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")
  await expect(page.getByTestId("health-ok")).toBeVisible()
  for (const section of ["Dashboard", "Lab", "Floor", "Settings"]) {
    await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: section })).toBeVisible()
  }
  for (const section of ["lab", "floor", "settings"]) {
    await page.getByTestId(`nav-${section}`).click()
    await expect(page).toHaveURL(new RegExp(`/${section}$`))
  }
  await page.screenshot({ path: "test-results/screenshots/layout.png", fullPage: true })

  // Edit every profile field and save.
  await page.getByTestId("nav-profile").click()
  await expect(page.getByTestId("profile-email")).toHaveText(email)
  const displayName = `Trader ${Date.now() % 100000}`
  await page.getByLabel("Display name").fill(displayName)
  await page.getByLabel("Full name").fill("Ada Lovelace")
  await page.getByTestId("timezone").click()
  await page.getByRole("searchbox").fill("Australia/Perth")
  await page.getByRole("option", { name: "Australia/Perth" }).click()
  await page.getByLabel("Max position size (AUD)").fill("2500.5")
  await page.getByLabel("Daily loss limit (AUD)").fill("150")
  await page.getByTestId("profile-save").click()
  await expect(page.getByText("Profile saved")).toBeVisible()
  await expect(page.getByTestId("current-user")).toHaveText(displayName)
  await page.screenshot({ path: "test-results/screenshots/profile.png", fullPage: true })

  // What was saved is what the server returns after a reload.
  await page.reload()
  await expect(page.getByLabel("Display name")).toHaveValue(displayName)
  await expect(page.getByTestId("timezone")).toContainText("Australia/Perth")
  // Shown as the number it is, without reformatting (NumberField never rewrites a value).
  await expect(page.getByLabel("Max position size (AUD)")).toHaveValue("2500.5")
  await expect(page.getByLabel("Daily loss limit (AUD)")).toHaveValue("150")

  await page.getByTestId("logout").click()
  await expect(page).toHaveURL(/\/login$/)
  await page.goto("/profile")
  await expect(page).toHaveURL(/\/login\?redirect=\/profile$/)
  expect(consoleErrors).toEqual([])
})
