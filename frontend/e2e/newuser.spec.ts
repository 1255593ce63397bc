import { expect, test, type Page } from "@playwright/test"

// What a new user tripped over in the Lab and the profile (issue 15): numbers changed behind
// their back, bad ids polling forever, raw server messages far from their fields, dates in the
// browser's locale.
const email = process.env.E2E_EMAIL ?? ""
const password = process.env.E2E_PASSWORD ?? ""

async function login(page: Page): Promise<void> {
  await page.goto("/login")
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")
}

async function newAlgorithm(page: Page, base: string): Promise<string> {
  const name = `${base} ${Math.random().toString(36).slice(2, 8)}`
  await page.goto("/lab")
  await page.getByTestId("new-algorithm").click()
  await page.getByLabel("Name").fill(name)
  await page.getByTestId("create-algorithm").click()
  await expect(page.getByTestId("page-title")).toHaveText(name)
  return page.url()
}

test("numbers are kept as typed: errors at the field, nothing submitted", async ({ page }) => {
  await login(page)
  const algorithmUrl = await newAlgorithm(page, "E2E typed numbers")

  // A fee of -1 % stays -1, is named as wrong, and the run is refused.
  const fee = page.locator("#run-fee")
  await fee.fill("-1")
  await fee.press("Tab")
  await expect(fee).toHaveValue("-1")
  await page.getByTestId("run-backtest").click()
  await expect(page.getByTestId("run-error-feePct")).toHaveText("Fee must be at least 0 %")
  await expect(page).toHaveURL(algorithmUrl)

  // Out-of-range cash is not clamped.
  const cash = page.locator("#run-cash")
  await cash.fill("5000000000")
  await cash.press("Tab")
  await expect(cash).toHaveValue("5000000000")
  await expect(page.getByTestId("run-error-cash")).toContainText("at most 1,000,000,000 AUD")

  // An algorithm parameter beyond its bound is shown as typed, with the bound.
  const fast = page.locator("#param-fast")
  await fast.fill("5000")
  await fast.press("Tab")
  await expect(fast).toHaveValue("5000")
  await expect(page.getByTestId("param-error-fast")).toContainText("at most")

  // Profile risk limits: -500 stays -500 and is refused.
  await page.goto("/profile")
  const limit = page.locator("#max_position_size_aud")
  await limit.fill("-500")
  await page.getByTestId("profile-save").click()
  await expect(limit).toHaveValue("-500")
  await expect(page.getByText("Max position size cannot be negative")).toBeVisible()
})

test("errors sit at their fields in plain words; dates read DD/MM/YYYY", async ({ page }) => {
  const errors: string[] = []
  page.on("pageerror", (error) => errors.push(error.message))
  await login(page)
  await newAlgorithm(page, "E2E field errors")

  // The default range is written day/month/year whatever the browser's locale.
  await expect(page.locator("#run-start")).toHaveValue(/^\d{2}\/\d{2}\/\d{4}$/)

  // No coin, no start date: each said at its field, not "Invalid time value".
  await page.getByTestId("run-coins").click()
  await page.getByRole("option", { name: "BTC" }).click()
  await page.keyboard.press("Escape")
  await page.locator("#run-start").fill("")
  await page.locator("#run-start").press("Tab")
  await page.getByTestId("run-backtest").click()
  await expect(page.getByTestId("run-error-coins")).toHaveText("Choose at least one coin")
  await expect(page.getByTestId("run-error-start")).toContainText("DD/MM/YYYY")
  await expect(page.getByText("Invalid time value")).toHaveCount(0)
  expect(errors).toEqual([])
})

test("a missing or malformed id shows not found and stops asking the server", async ({ page }) => {
  await login(page)
  await page.clock.install()
  const reads: string[] = []
  page.on("request", (request) => {
    if (/\/api\/v1\/lab\/(backtest|algorithms)\//.test(request.url())) reads.push(request.url())
  })

  for (const [path, what] of [
    ["/lab/backtests/00000000-0000-4000-8000-000000000000", "Backtest"],
    ["/lab/backtests/not-a-run", "Backtest"],
    ["/lab/algorithms/00000000-0000-4000-8000-000000000000", "Algorithm"],
  ] as const) {
    reads.length = 0
    await page.goto(path)
    await expect(page.getByTestId("not-found")).toBeVisible()
    await expect(page.getByTestId("page-title")).toHaveText(`${what} not found`)
    const asked = reads.length
    // Ten minutes pass on the page's clock: no more requests for the missing thing.
    await page.clock.runFor(600_000)
    expect(reads.length, `${path} kept polling`).toBe(asked)
  }
})

test("sweep: counts distinct values, labelled boxes, random mode, a legend, and it survives a reload", async ({ page }) => {
  test.setTimeout(180_000)
  await login(page)
  await newAlgorithm(page, "E2E sweep")
  await page.getByTestId("open-sweep").click()
  await expect(page.getByTestId("page-title")).toHaveText("Parameter sweep")

  // Labelled boxes; 50 steps over 2..40 are 39 distinct whole numbers.
  await page.getByLabel("From").first().fill("2")
  await page.locator("#sweep-max-fast").fill("40")
  await page.locator("#sweep-steps-input-fast").fill("50")
  await page.locator("#sweep-min-slow").fill("50")
  await page.locator("#sweep-max-slow").fill("99")
  await page.locator("#sweep-steps-input-slow").fill("50")
  await expect(page.getByTestId("sweep-values-fast")).toContainText("39 values")
  await expect(page.getByTestId("sweep-count")).toContainText("1950 combinations")

  // Too many for a grid: the page offers the random mode it talks about.
  await page.getByTestId("run-sweep").click()
  await expect(page.getByTestId("sweep-too-many")).toContainText("random mode")
  await page.getByTestId("sweep-mode").click()
  await page.getByRole("option", { name: "Random sample" }).click()
  await page.locator("#sw-samples").fill("4")
  await expect(page.getByTestId("sweep-count")).toContainText("4 combinations drawn from 1950")
  await page.getByTestId("run-sweep").click()
  await expect(page).toHaveURL(/[?&]sweep=/)
  await expect(page.getByTestId("sweep-table").locator("tbody tr")).toHaveCount(4, { timeout: 90_000 })
  await expect(page.getByTestId("heatmap-legend")).toContainText("(best)")

  // A reload shows the same sweep, and it is in the list of past sweeps.
  await page.reload()
  await expect(page.getByTestId("sweep-table").locator("tbody tr")).toHaveCount(4)
  await expect(page.getByTestId("past-sweeps").locator("tbody tr")).toHaveCount(1)
  await expect(page.getByTestId("past-sweeps")).toContainText("succeeded")
})

test("markets: one price format, a search that says what it did not find, every coin visible, times named", async ({ page }) => {
  await login(page)
  await page.goto("/markets")
  const table = page.getByTestId("prices-table")
  await expect(table.locator("tbody tr")).toHaveCount(4)
  // Every price from 1 AUD up has at least two decimals.
  for (const text of await table.locator("tbody td:nth-child(2)").allTextContents()) {
    if (Number(text.replace(/,/g, "")) >= 1) expect(text).toMatch(/\.\d{2,4}$/)
  }
  // Demo data but no collector run: say where the prices came from, not "none yet".
  await expect(page.getByTestId("newest-price")).toContainText("synthetic")
  await expect(page.getByTestId("collector-status")).not.toContainText("none yet")
  await expect(table).toContainText(/\d{2}\/\d{2}\/\d{4} \d{2}:\d{2} [A-Z]{3,5}/)
  // No inner scroll box hiding rows.
  const scrolls = await table.evaluate((el) => Array.from(el.querySelectorAll("*")).some((e) => e.scrollHeight > e.clientHeight + 1 && getComputedStyle(e).overflowY !== "visible"))
  expect(scrolls).toBe(false)
  await page.getByTestId("coin-search").fill("ZZZ")
  await expect(page.getByTestId("search-empty")).toHaveText("No coin matches “ZZZ”.")
})
