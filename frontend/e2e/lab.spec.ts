import { expect, test, type Page } from "@playwright/test"

// The journey of a new user through Markets and the Lab, on the synthetic demo history that
// scripts/test-frontend.sh loads. Screenshots of the main pages go to test-results/screenshots.
const email = process.env.E2E_EMAIL ?? ""
const password = process.env.E2E_PASSWORD ?? ""
const shot = (page: Page, name: string) => page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true })
// The same page at a desktop (1440 px) and a phone (390 px) width; nothing may scroll sideways.
async function shots(page: Page, name: string): Promise<void> {
  for (const width of [1440, 390]) {
    await page.setViewportSize({ width, height: 900 })
    await page.screenshot({ path: `test-results/screenshots/${name}-${width}.png`, fullPage: true })
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow, `${name} scrolls sideways at ${width} px`).toBeLessThanOrEqual(1)
  }
  await page.setViewportSize({ width: 1280, height: 800 })
}

test.setTimeout(240_000)

test("markets, then an algorithm from a template, edited, backtested twice, compared and swept", async ({ page }) => {
  const errors: string[] = []
  page.on("pageerror", (error) => errors.push(error.message))
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text())
  })

  await page.goto("/login")
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")

  // Markets: the coins and a BTC chart.
  await page.getByTestId("nav-markets").click()
  await expect(page.getByTestId("coin-BTC")).toBeVisible()
  await expect(page.getByTestId("prices-table").locator("tbody tr")).toHaveCount(4)
  await shot(page, "markets")
  await shots(page, "markets")
  await page.getByTestId("coin-BTC").click()
  await expect(page.getByTestId("page-title")).toHaveText("BTC")
  await expect(page.getByTestId("chart").locator("canvas").first()).toBeVisible()
  await shot(page, "coin-btc")

  // A new algorithm from the moving-average template.
  await page.getByTestId("nav-lab").click()
  await page.getByTestId("new-algorithm").click()
  await page.getByLabel("Name").fill("E2E crossover")
  await page.getByTestId("create-algorithm").click()
  await expect(page.getByTestId("page-title")).toHaveText("E2E crossover")
  await expect(page.getByTestId("version-tag")).toHaveText("version 1")
  const editor = page.locator(".cm-content")
  await expect(editor).toBeVisible()

  // Break the code: the validation error points at the right line.
  await editor.click()
  await page.keyboard.press("Control+End")
  await page.keyboard.press("Enter")
  await page.keyboard.insertText("leak = eval('1 + 1')")
  const brokenLine = await page.locator(".cm-line").count()
  await expect(page.getByTestId("problems")).toContainText(`Line ${brokenLine}:`)
  await expect(page.getByTestId("problems")).toContainText("eval")
  await page.getByTestId("save").click()
  await expect(page.getByTestId("save-error")).toContainText(`line ${brokenLine}`)
  await shot(page, "editor-error")

  // Fix it and save with the keyboard: version 2.
  await page.locator(".cm-line").last().click()
  await page.keyboard.press("End")
  await page.keyboard.press("Shift+Home")
  await page.keyboard.insertText("# tuned in the e2e test")
  await expect(page.getByTestId("problems")).toHaveCount(0)
  await page.keyboard.press("Control+s")
  await expect(page.getByTestId("version-tag")).toHaveText("version 2")
  await shots(page, "algorithm")

  // A backtest on the demo data, watched until it finishes.
  await page.getByTestId("run-backtest").click()
  await expect(page).toHaveURL(/\/lab\/backtests\//)
  await expect(page.getByTestId("lookahead")).toContainText("No lookahead found", { timeout: 90_000 })
  await expect(page.getByTestId("metric-total_return")).toHaveText(/%$/)
  await expect(page.getByTestId("metric-buy_and_hold_return")).toHaveText(/%$/)
  await expect(page.getByTestId("chart").first().locator("canvas").first()).toBeVisible()
  await expect(page.getByTestId("trades-table").locator("tbody tr").first()).toBeVisible()
  await expect(page.getByTestId("round-trips").locator("tbody tr").first()).toBeVisible()
  await expect(page.getByTestId("run-summary")).toContainText("fast 12 · slow 48")
  // The price readout under the cursor: OHLC of the hovered candle.
  const priceChart = page.getByTestId("chart").nth(2)
  await priceChart.scrollIntoViewIfNeeded()
  await priceChart.hover({ position: { x: 200, y: 150 } })
  await priceChart.hover({ position: { x: 220, y: 150 } })
  await expect(page.getByTestId("chart-readout").nth(2)).toContainText(/O [\d,.]+ H [\d,.]+ L [\d,.]+ C [\d,.]+/)
  await shot(page, "backtest")
  await shots(page, "backtest")
  const firstRun = page.url()

  // A second backtest with other parameters.
  await page.getByRole("link", { name: "Algorithm" }).click()
  await page.locator("#param-fast").fill("6")
  await page.locator("#param-fast").press("Tab")
  await page.getByLabel("Label").fill("fast 6")
  await page.getByTestId("run-backtest").click()
  await expect(page).not.toHaveURL(firstRun)
  await expect(page.getByTestId("lookahead")).toBeVisible({ timeout: 90_000 })
  await expect(page.getByTestId("run-summary")).toContainText("fast 6")

  // Compare the two.
  await page.getByRole("link", { name: "Algorithm" }).click()
  const runs = page.getByTestId("runs").locator("tbody tr")
  await expect(runs).toHaveCount(2)
  await expect(runs.nth(0)).toContainText("succeeded")
  await expect(runs.nth(1)).toContainText("succeeded")
  await runs.nth(0).locator("input[type=checkbox]").check({ force: true })
  await runs.nth(1).locator("input[type=checkbox]").check({ force: true })
  await page.getByTestId("compare").click()
  await expect(page.getByTestId("page-title")).toHaveText("Compare backtests")
  await expect(page.getByTestId("compare-table").locator("thead th")).toHaveCount(3)
  await expect(page.getByTestId("compare-table").locator("td.best").first()).toBeVisible()
  await expect(page.getByTestId("compare-settings")).toContainText("Fee")
  await expect(page.getByTestId("compare-settings")).toContainText("fast 6 · slow 48")
  await shot(page, "compare")
  await shots(page, "compare")

  // A small sweep: a ranked table and a heatmap.
  await page.goBack()
  await page.getByTestId("open-sweep").click()
  await expect(page.getByTestId("page-title")).toHaveText("Parameter sweep")
  await page.getByTestId("sweep-steps-fast").locator("input").fill("2")
  await page.getByTestId("sweep-steps-slow").locator("input").fill("2")
  await page.getByTestId("sweep-steps-slow").locator("input").press("Tab")
  // fast 6 or 24 × slow 24 or 96: (24, 24) breaks the template's fast < slow and is skipped.
  await expect(page.getByTestId("sweep-count")).toContainText("1 of them break fast < slow")
  await page.getByTestId("run-sweep").click()
  await expect(page.getByTestId("sweep-table").locator("tbody tr")).toHaveCount(3, { timeout: 90_000 })
  await expect(page.getByTestId("heatmap")).toBeVisible()
  await shot(page, "sweep")
  await shots(page, "sweep")

  expect(errors).toEqual([])
})
