import { readFileSync } from "node:fs"

import { expect, test, type Page, type TestInfo } from "@playwright/test"

// Lab to Floor in the browser: an algorithm from a template, backtested at the instant fee,
// refused by the default promotion policy (the checklist says why), promoted once the policy
// is relaxed in the editor, deployed on paper (after the deploy form refused bad input and
// spelled out the live requirements), and its deployment page: a cycle run now, its limits
// edited, pause, activate and deactivate with flatten. Screenshots of the checklist and the deployment page are saved in
// test-results/screenshots and attached to the test's report.
const email = process.env.E2E_EMAIL ?? ""
const password = process.env.E2E_PASSWORD ?? ""

async function shot(page: Page, info: TestInfo, name: string): Promise<void> {
  const path = `test-results/screenshots/${name}.png`
  await page.screenshot({ path, fullPage: true })
  await info.attach(name, { path, contentType: "image/png" })
}
// The page at a desktop (1440 px) and a phone (390 px) width; nothing may scroll sideways.
async function shots(page: Page, info: TestInfo, name: string): Promise<void> {
  for (const width of [1440, 390]) {
    await page.setViewportSize({ width, height: 900 })
    await shot(page, info, `${name}-${width}`)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow, `${name} scrolls sideways at ${width} px`).toBeLessThanOrEqual(1)
  }
  await page.setViewportSize({ width: 1280, height: 800 })
}

test.setTimeout(300_000)

test("promote an algorithm, deploy it on paper and open its deployment page", async ({ page }, info) => {
  const errors: string[] = []
  page.on("pageerror", (error) => errors.push(error.message))
  // Failed requests are checked by URL below; the only expected ones are the refused promotion
  // (422 with its checklist) and the Coinspot keys the deploy page asks for (404: none stored).
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) errors.push(message.text())
  })
  page.on("response", (response) => {
    const url = new URL(response.url()).pathname
    const expected = (response.status() === 422 && url.endsWith("/promote")) || (response.status() === 404 && url === "/api/v1/credentials/coinspot")
    if (response.status() >= 400 && !expected) errors.push(`${response.status()} ${url}`)
  })

  await page.goto("/login")
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")

  // An algorithm from the moving-average template, backtested at Coinspot's instant fee (1 %).
  await page.getByTestId("nav-lab").click()
  await page.getByTestId("new-algorithm").click()
  await page.getByLabel("Name").fill("E2E promoted")
  await page.getByTestId("create-algorithm").click()
  await expect(page.getByTestId("page-title")).toHaveText("E2E promoted")
  await page.locator("#run-fee").fill("1")
  await page.getByTestId("run-backtest").click()
  await expect(page).toHaveURL(/\/lab\/backtests\//)
  await expect(page.getByTestId("lookahead")).toContainText("No lookahead found", { timeout: 120_000 })
  const backtestUrl = page.url()

  // The default policy refuses it: the checklist shows which required criteria failed.
  const panel = page.getByTestId("promote-panel")
  await panel.scrollIntoViewIfNeeded()
  await expect(page.getByTestId("promote-evidence")).toContainText("v1")
  await page.getByTestId("create-release").click()
  await expect(page.getByTestId("promote-error")).toContainText("not created", { timeout: 60_000 })
  const span = page.getByTestId("criterion-min_span_days")
  await expect(span.getByTestId("criterion-threshold")).toHaveText("at least 90 days")
  await expect(span.getByTestId("criterion-measured")).toHaveText(/days$/)
  await expect(span.getByTestId("criterion-result")).toHaveText("fail")
  await expect(page.getByTestId("criterion-lookahead").getByTestId("criterion-result")).toHaveText("pass")
  await expect(page.getByTestId("criterion-fees_match_execution").getByTestId("criterion-result")).toHaveText("pass")
  await expect(page.getByTestId("checklist-summary")).toContainText("required")
  await shot(page, info, "promotion-checklist-refused")

  // Relax the policy in the editor (a malformed number is refused next to its box first).
  await page.goto("/lab/releases")
  await expect(page.getByTestId("page-title")).toHaveText("Releases")
  await expect(page.getByTestId("releases-empty")).toBeVisible()
  await page.getByTestId("policy-min_span_days").fill("one")
  await page.getByTestId("policy-save").click()
  await expect(page.getByTestId("policy-error-min_span_days")).toHaveText("Backtest span must be a number")
  await expect(page.getByTestId("policy-min_span_days")).toHaveValue("one")
  await page.getByTestId("policy-min_span_days").fill("0") // the run may cover less than a day of data
  await page.getByTestId("policy-min_round_trips").fill("0")
  await page.getByTestId("policy-max_drawdown").fill("100")
  await page.getByTestId("policy-resources").fill("60000")
  await page.getByTestId("policy-required-min_sharpe").click()
  await page.getByTestId("policy-required-out_of_sample").click()
  await expect(page.getByTestId("policy-error-min_span_days")).toHaveCount(0)
  await page.getByTestId("policy-save").click()
  await expect(page.getByText("Promotion policy saved")).toBeVisible()

  // Checked again: every required criterion passes; the release is created.
  await page.goto(backtestUrl)
  await expect(page.getByTestId("lookahead")).toBeVisible()
  await page.getByTestId("promotion-check").click()
  await expect(page.getByTestId("checklist-summary")).toContainText("Every required criterion passes", { timeout: 60_000 })
  await expect(page.getByTestId("criterion-min_span_days").getByTestId("criterion-threshold")).toHaveText("at least 0 days")
  await expect(page.getByTestId("criterion-min_sharpe")).toContainText("advisory")
  await page.getByTestId("checklist").scrollIntoViewIfNeeded()
  await shot(page, info, "promotion-checklist")
  await page.getByTestId("create-release").click()
  await expect(page.getByTestId("release-created")).toBeVisible({ timeout: 60_000 })

  // The release in the list, with its evidence.
  await page.goto("/lab/releases")
  const rows = page.getByTestId("releases-table").locator("tbody tr")
  await expect(rows).toHaveCount(1)
  await expect(rows.first()).toContainText("E2E promoted")
  await rows.first().getByTestId("release-evidence").click()
  await expect(page.getByTestId("release-detail")).toContainText("Content hash")
  await expect(page.getByTestId("release-detail").getByTestId("criterion-min_span_days")).toBeVisible()
  await shots(page, info, "releases")
  // The release bundle downloads (fetched with the session's token), named by its hash.
  const [bundle] = await Promise.all([page.waitForEvent("download"), rows.first().getByTestId("release-bundle").click()])
  expect(bundle.suggestedFilename()).toMatch(/^release-[0-9a-f]{12}\.zip$/)
  expect(readFileSync(await bundle.path()).subarray(0, 2).toString()).toBe("PK")

  // Deploy: the form refuses bad input next to the field and keeps what was typed.
  await rows.first().getByTestId("release-deploy").click()
  await expect(page.getByTestId("page-title")).toHaveText("Deploy")
  await expect(page.getByTestId("release-summary")).toContainText("paper so far 0 h")
  await page.getByTestId("deploy-capital").fill("-5")
  await page.getByTestId("deploy-limit-max_drawdown_fraction").fill("150")
  await page.getByTestId("deploy-submit").click()
  await expect(page.getByTestId("deploy-error-capital")).toHaveText("Capital must be more than 0 AUD")
  await expect(page.getByTestId("deploy-capital")).toHaveValue("-5")
  await expect(page.getByTestId("deploy-limit-error-max_drawdown_fraction")).toHaveText("Maximum drawdown must be at most 100 %")
  await expect(page).toHaveURL(/\/floor\/deploy/)

  // Live spells out what it needs: keys, paper time, the real-money acknowledgement.
  await page.getByTestId("mode-live").click()
  await expect(page.getByTestId("live-paper-time")).toContainText(/live trading needs [\d.]+ h on paper first/)
  await expect(page.getByTestId("live-credentials")).toBeVisible()
  await expect(page.getByTestId("live-requirements")).toContainText("real orders on my Coinspot account")
  await page.getByTestId("deploy-submit").click()
  await expect(page.getByTestId("deploy-error-acknowledge")).toHaveText("Confirm that this deployment trades real money")
  await expect(page.getByTestId("deploy-error-mode")).toContainText("on paper first")
  await shots(page, info, "deploy")

  // On paper, with sensible numbers.
  await page.getByTestId("mode-paper").click()
  await page.getByTestId("deploy-capital").fill("500")
  await page.getByTestId("deploy-limit-max_drawdown_fraction").fill("30")
  await page.getByTestId("deploy-submit").click()
  await expect(page).toHaveURL(/\/floor\/deployments\//)

  // The deployment page: facts, limits as deployed, a cycle run now, status changes.
  await expect(page.getByTestId("deployment-mode")).toHaveText("paper")
  await expect(page.getByTestId("deployment-status")).toHaveText("active")
  await expect(page.getByTestId("deployment-facts")).toContainText("$500.00")
  await expect(page.getByTestId("deployment-limits")).toContainText("30 %")
  await expect(page.getByTestId("deployment-parameters")).toContainText("fast 12")
  await page.getByTestId("run-now").click()
  const firstRun = page.getByTestId("runs-table").locator("tbody tr").first()
  await expect(firstRun).not.toContainText("No cycles yet", { timeout: 60_000 })
  await expect(firstRun).toContainText("BTC")
  // The price chart with its readout under the cursor.
  const chart = page.getByTestId("chart").first()
  await expect(chart.locator("canvas").first()).toBeVisible()
  await chart.hover({ position: { x: 200, y: 150 } })
  await chart.hover({ position: { x: 220, y: 150 } })
  await expect(page.getByTestId("chart-readout").first()).toContainText(/BTC [\d,.]+/)
  await expect(page.getByTestId("drift")).toBeVisible({ timeout: 60_000 })
  await shots(page, info, "deployment")
  await shot(page, info, "deployment")

  // Its limits, edited in place: refused next to the box first, then saved.
  await expect(page.getByTestId("limit-daily_loss_aud")).toContainText("on breach:")
  await page.getByTestId("edit-limits").click()
  await page.locator("#edit-limit-daily_loss_aud").fill("-1")
  await page.getByTestId("save-limits").click()
  await expect(page.getByTestId("edit-limit-error-daily_loss_aud")).toHaveText("Daily loss limit must be more than 0 AUD")
  await expect(page.locator("#edit-limit-daily_loss_aud")).toHaveValue("-1")
  await page.locator("#edit-limit-daily_loss_aud").fill("250")
  await page.getByTestId("save-limits").click()
  await expect(page.getByTestId("limit-daily_loss_aud")).toContainText("250 AUD")
  await expect(page.getByTestId("limit-max_drawdown_fraction")).toContainText("30 %")

  await page.getByTestId("deployment-pause").click()
  await expect(page.getByTestId("deployment-status")).toHaveText("paused")
  await page.getByTestId("deployment-activate").click()
  await expect(page.getByTestId("deployment-status")).toHaveText("active")
  await page.getByTestId("deployment-deactivate").click()
  await expect(page.getByTestId("confirm-deactivate")).toContainText("stops this deployment for good")
  await page.getByTestId("deactivate-flatten").click()
  await page.getByTestId("confirm-deactivate-yes").click()
  await expect(page.getByTestId("deployment-status")).toHaveText("stopped")
  await expect(page.getByTestId("flatten-report")).toBeVisible()
  await expect(page.getByTestId("run-now")).toHaveCount(0)

  expect(errors).toEqual([])
})
