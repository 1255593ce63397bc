import { expect, test } from "@playwright/test"

// Every main page stays usable on a narrow window: nothing wider than the screen.
test("pages fit a narrow window", async ({ page }) => {
  await page.setViewportSize({ width: 480, height: 900 })
  await page.goto("/login")
  await page.getByLabel("Email").fill(process.env.E2E_EMAIL ?? "")
  await page.locator("#password").fill(process.env.E2E_PASSWORD ?? "")
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")
  for (const [path, title] of [
    ["/markets", "Markets"],
    ["/markets/BTC", "BTC"],
    ["/lab", "Lab"],
    ["/floor", "Floor"],
    ["/alerts", "Alerts"],
    ["/profile", "Profile"],
    ["/settings", "Settings"],
    ["/settings/coinspot", "Coinspot API keys"],
    ["/lab/releases", "Releases"],
    ["/floor/deploy", "Deploy"],
  ] as const) {
    await page.goto(path)
    await expect(page.getByTestId("page-title")).toHaveText(title)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow, `${path} is wider than the window`).toBeLessThanOrEqual(1)
  }
  await page.screenshot({ path: "test-results/screenshots/narrow-lab.png", fullPage: true })
})

// On a phone the navigation folds behind a menu button instead of wrapping into a tall block.
test("a phone gets a menu button, not a wrapped navigation", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 })
  await page.goto("/login")
  await page.getByLabel("Email").fill(process.env.E2E_EMAIL ?? "")
  await page.locator("#password").fill(process.env.E2E_PASSWORD ?? "")
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")
  const header = page.locator("header.topbar")
  expect((await header.boundingBox())!.height).toBeLessThan(70)
  await expect(page.getByTestId("nav-lab")).toBeHidden()
  await page.getByTestId("menu-button").click()
  await expect(page.getByTestId("menu-button")).toHaveAttribute("aria-expanded", "true")
  await page.getByTestId("nav-lab").click()
  await expect(page.getByTestId("page-title")).toHaveText("Lab")
  await expect(page.getByTestId("nav-lab")).toBeHidden()
  await page.screenshot({ path: "test-results/screenshots/phone-menu.png" })
})
