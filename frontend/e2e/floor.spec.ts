import { expect, test, type Page } from "@playwright/test"

import { Api, holdFlatHold, login, movePrice, runCycle, simulator } from "./helpers/floor"
import { Authenticator, signUp } from "./helpers/totp"

// The Floor journeys against the real backend and the Coinspot simulator that
// scripts/test-frontend.sh starts (the scheduler is off there: each cycle is decided on purpose,
// by the executor's CLI in a process of its own). Every change after the first page load must
// reach the page over the WebSocket: a marker set on `window` proves that it never reloads.
const adminEmail = process.env.E2E_EMAIL ?? ""
// How long a change may take to reach the page over the WebSocket on a busy machine.
const LIVE = 30_000
const adminPassword = process.env.E2E_PASSWORD ?? ""

async function shots(page: Page, name: string): Promise<void> {
  for (const width of [1440, 390]) {
    await page.setViewportSize({ width, height: 900 })
    await page.screenshot({ path: `test-results/screenshots/${name}-${width}.png`, fullPage: true })
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow, `${name} scrolls sideways at ${width} px`).toBeLessThanOrEqual(1)
  }
  await page.setViewportSize({ width: 1280, height: 800 })
}

async function markPage(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true))
}
async function expectNoReload(page: Page): Promise<void> {
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true)
}

/** Relax the user's promotion policy: the journey is about the Floor, not the gate's thresholds. */
async function relaxPolicy(api: Api): Promise<void> {
  const off = { required: false }
  await api.call("PUT", "/lab/promotion-policy", {
    min_span_days: off,
    min_round_trips: off,
    min_sharpe: off,
    max_drawdown: off,
    lookahead: off,
    out_of_sample: off,
    resources: off,
    fees_match_execution: off,
  })
}

/** An algorithm from the moving-average template, backtested in the Lab: its id and backtest id. */
async function algorithmWithBacktest(page: Page, name: string): Promise<{ algorithmId: string; backtestId: string }> {
  await page.getByTestId("nav-lab").click()
  await page.getByTestId("new-algorithm").click()
  await page.getByLabel("Name").fill(name)
  await page.getByTestId("create-algorithm").click()
  await expect(page.getByTestId("page-title")).toHaveText(name)
  const algorithmId = page.url().split("/").pop() ?? ""
  await page.getByTestId("run-backtest").click()
  await expect(page).toHaveURL(/\/lab\/backtests\//)
  await expect(page.getByTestId("lookahead")).toBeVisible({ timeout: 120_000 })
  const backtestId = page.url().split("/").pop() ?? ""
  return { algorithmId, backtestId }
}

test.setTimeout(420_000)

test("paper: template → backtest → promote → deploy; fills and P&L arrive live; pause; emergency stop", async ({ page, request }) => {
  const errors: string[] = []
  page.on("pageerror", (error) => errors.push(error.message))
  const user = await signUp(request, "floor")
  const api = await Api.login(request, user.email, user.password)
  const admin = await Api.login(request, adminEmail, adminPassword)
  await login(page, user.email, user.password)

  // Nothing runs yet: the dashboard says so, and there is no emergency stop to press.
  await page.getByTestId("nav-floor").click()
  await expect(page.getByTestId("page-title")).toHaveText("Floor")
  await expect(page.getByTestId("floor-empty")).toBeVisible()
  await expect(page.getByTestId("trades-empty")).toBeVisible()
  await expect(page.getByTestId("emergency-stop")).toHaveCount(0)
  await shots(page, "floor-empty")

  // Lab: an algorithm from a template, backtested.
  const { backtestId } = await algorithmWithBacktest(page, "Floor E2E crossover")
  const run = await api.call<{ coins: string[] }>("GET", `/lab/backtest/${backtestId}`)
  const coin = run.coins[0]!
  expect(coin, "the deploy form starts with BTC, the coin the Lab's backtest uses").toBe("BTC")
  const trades = await api.call<{ data: Array<{ time: string; side: string; coin: string }> }>("GET", `/lab/backtest/${backtestId}/trades?limit=500`)
  const bars = holdFlatHold(trades.data.filter((t) => t.coin === coin))

  // Promote from the backtest's page (the policy relaxed: the gate's thresholds are the promote
  // journey's subject) and deploy the release on paper from the releases list.
  await relaxPolicy(api)
  await page.getByTestId("promotion-check").click()
  await expect(page.getByTestId("checklist-summary")).toContainText("Every required criterion passes", { timeout: 60_000 })
  await page.getByTestId("create-release").click()
  await expect(page.getByTestId("release-created")).toBeVisible({ timeout: 60_000 })
  await page.goto("/lab/releases")
  await page.getByTestId("releases-table").locator("tbody tr").first().getByTestId("release-deploy").click()
  await expect(page.getByTestId("page-title")).toHaveText("Deploy")
  await page.locator("#deploy-name").fill("E2E paper")
  await page.getByTestId("deploy-capital").fill("1000")
  // After a profitable round trip the sleeve holds more than the capital, and the default
  // max_position_fraction (100 %) would refuse the next full buy: no such limit here.
  await page.getByTestId("deploy-limit-max_position_fraction").fill("")
  await page.getByTestId("deploy-submit").click()
  await expect(page).toHaveURL(/\/floor\/deployments\//)
  await expect(page.getByTestId("deployment-status")).toHaveText("active")
  const deployment = { id: page.url().split("/").pop() ?? "" }

  // The dashboard shows the deployment; from here on the page is never reloaded.
  await page.getByTestId("nav-floor").click()
  const card = page.getByTestId(`deployment-${deployment.id}`)
  await expect(card).toBeVisible()
  await expect(card.getByTestId("deployment-status")).toHaveText("active")
  await expect(card.getByTestId("deployment-mode")).toHaveText("paper")
  await expect(page.getByTestId("live-state")).toHaveText("Live")
  await expect(page.getByTestId("emergency-stop")).toBeVisible()
  await expect(page.getByTestId("account-pnl-total")).toHaveText("$0.00")
  await markPage(page)

  // A cycle on a bar where the algorithm holds the coin: a buy, filled on paper.
  const first = await runCycle(deployment.id, bars.hold)
  expect(first.orders).toHaveLength(1)
  const tradeRows = page.getByTestId("trades-table").locator("tbody tr")
  await expect(tradeRows).toHaveCount(1, { timeout: LIVE })
  await expect(tradeRows.first()).toContainText("buy")
  await expect(tradeRows.first()).toContainText(coin)
  await expect(page.getByTestId("positions-table").locator("tbody tr").first()).toContainText(coin)
  await expect(card.getByTestId("deployment-exposure")).not.toHaveText("$0.00")
  await expect(card.getByTestId("deployment-last-cycle")).not.toContainText("none yet")
  await expect(page.getByTestId("allocation-pie")).toBeVisible()
  // The fee makes the P&L move off zero at once.
  await expect(page.getByTestId("account-pnl-total")).not.toHaveText("$0.00")
  const afterBuy = await page.getByTestId("account-pnl-total").textContent()

  // The market moves up 10 % and the collector records it: the position's P&L follows.
  await movePrice(request, coin, 1.1)
  await admin.call("POST", "/collector/run")
  await expect(page.getByTestId("account-pnl-total")).not.toHaveText(afterBuy ?? "", { timeout: LIVE })
  await expect(page.getByTestId("account-pnl-total")).toHaveText(/^\+\$/)
  await expect(page.getByTestId("account-pnl-total")).toHaveClass(/gain/)
  await shots(page, "floor-dashboard")

  // A bar where the algorithm is flat: the coin is sold; then one where it holds again.
  const second = await runCycle(deployment.id, bars.flat)
  expect(second.orders).toHaveLength(1)
  await expect(tradeRows).toHaveCount(2, { timeout: LIVE })
  await expect(tradeRows.first()).toContainText("sell")
  const third = await runCycle(deployment.id, bars.again)
  expect(third.orders).toHaveLength(1)
  await expect(tradeRows).toHaveCount(3, { timeout: LIVE })
  await expect(tradeRows.first()).toContainText("buy")
  await page.getByTestId("filter-side").click()
  await page.getByRole("option", { name: "sell" }).click()
  await expect(tradeRows).toHaveCount(1)
  await expectNoReload(page)

  // Pause from its card.
  await card.getByTestId("deployment-pause").click()
  await expect(card.getByTestId("deployment-status")).toHaveText("paused")
  await expect(card.getByTestId("deployment-activate")).toBeVisible()

  // Emergency stop with flatten: it says what it will do, then what it did.
  await page.getByTestId("emergency-stop").click()
  await expect(page.getByTestId("estop-promises")).toContainText("your 1 running deployment")
  await expect(page.getByTestId("estop-promises")).toContainText("Keep the coins held")
  await page.getByTestId("estop-flatten").click()
  await expect(page.getByTestId("estop-promises")).toContainText("Sell every coin")
  await page.getByTestId("estop-reason").fill("E2E drill")
  await page.getByTestId("estop-confirm").click()
  await expect(page.getByTestId("estop-summary")).toContainText("1 deployment halted")
  await expect(page.getByTestId("estop-halted")).toContainText("E2E paper")
  await expect(page.getByTestId("estop-order-confirmed")).toContainText(`flatten sell ${coin}`)
  await expect(page.getByTestId("estop-attention")).toHaveCount(0)
  await page.screenshot({ path: "test-results/screenshots/floor-emergency-stop-report.png" })
  await page.getByTestId("estop-close").click()
  await expect(card.getByTestId("deployment-status")).toHaveText("halted")
  await expect(tradeRows).toHaveCount(2) // the filter still shows sells: the flatten sale is the second
  await expect(page.getByTestId("positions-empty")).toBeVisible()
  await expectNoReload(page)
  await shots(page, "floor-halted")

  // The card opens the deployment's page, which shows the halt too.
  await card.getByTestId("deployment-link").click()
  await expect(page).toHaveURL(new RegExp(`/floor/deployments/${deployment.id}$`))
  await expect(page.getByTestId("deployment-status")).toHaveText("halted")
  await expectNoReload(page)

  // The alerts centre is one click away.
  await page.getByTestId("nav-alerts").click()
  await expect(page.getByTestId("page-title")).toHaveText("Alerts")
  expect(errors).toEqual([])
})

test("live on the simulator: an order left unknown by a fault is shown, then its resolution", async ({ page, request }) => {
  const errors: string[] = []
  page.on("pageerror", (error) => errors.push(error.message))
  const user = await signUp(request, "floor-live")
  const api = await Api.login(request, user.email, user.password)
  // The browser signs in before 2FA is on; the API session enrols and so holds a fresh factor.
  await login(page, user.email, user.password)
  const { algorithmId, backtestId } = await algorithmWithBacktest(page, "Floor E2E live")
  const run = await api.call<{ coins: string[] }>("GET", `/lab/backtest/${backtestId}`)
  const coin = run.coins[0]!
  const trades = await api.call<{ data: Array<{ time: string; side: string; coin: string }> }>("GET", `/lab/backtest/${backtestId}/trades?limit=500`)
  const bars = holdFlatHold(trades.data.filter((t) => t.coin === coin))

  const setup = await api.call<{ secret: string }>("POST", "/security/two-factor/setup")
  const authenticator = new Authenticator(setup.secret)
  await api.call("POST", "/security/two-factor/confirm", { code: await authenticator.nextCode() })
  // A Coinspot account of its own on the simulator, with AUD to trade; its keys stored and validated.
  const key = `live-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`
  const secret = `secret-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
  await simulator(request, "POST", "/accounts", { api_key: key, api_secret: secret, balances: { AUD: "5000" } })
  await api.call("POST", "/credentials/coinspot", { label: "Simulator", api_key: key, api_secret: secret })
  await api.call("POST", "/credentials/coinspot/validate")

  await relaxPolicy(api)
  const promoted = await api.call<{ release_id: string }>("POST", `/lab/algorithms/${algorithmId}/promote`, { evidence: { backtest_run_ids: [backtestId] } })
  // Live needs the release's paper time first (18 s in the browser tests): run it on paper,
  // then ask for live until the server agrees the time is met.
  const paper = await api.call<{ id: string }>("POST", "/floor/deploy", { release_id: promoted.release_id, mode: "paper", capital: "100.00", coins: [coin] })
  const live = { release_id: promoted.release_id, mode: "live", name: "E2E live", capital: "1000.00", coins: [coin], acknowledge_real_money: true }
  let deployment: { id: string } | null = null
  const deadline = Date.now() + 90_000
  while (!deployment && Date.now() < deadline) {
    const response = await request.post("/api/v1/floor/deploy", { data: live, headers: { Authorization: `Bearer ${api.token}` } })
    if (response.ok()) deployment = (await response.json()) as { id: string }
    else {
      expect(await response.text()).toContain("on paper")
      await new Promise((resolve) => setTimeout(resolve, 1000)) // the next poll of the condition
    }
  }
  expect(deployment, "the live deployment after the paper time").not.toBeNull()
  await api.call("POST", `/floor/algorithms/${paper.id}/deactivate`, { reason: "paper time done" })

  await page.getByTestId("nav-floor").click()
  const card = page.getByTestId(`deployment-${deployment!.id}`)
  await expect(card.getByTestId("deployment-mode")).toHaveText("live")
  await expect(page.getByTestId("live-state")).toHaveText("Live")
  await expect(page.getByTestId("orders-empty")).toBeVisible()
  await markPage(page)

  // The exchange executes the next buy but never answers: the order's outcome is unknown.
  await simulator(request, "POST", "/faults", { kind: "hang", path: "/api/v2/my/buy/now", count: 1, seconds: 8, mode: "after" })
  const first = await runCycle(deployment!.id, bars.hold)
  expect(first.orders).toHaveLength(1)
  const orderId = first.orders[0]!
  await expect(page.getByTestId(`order-status-${orderId}`)).toHaveText("unknown", { timeout: LIVE })
  await expect(page.getByTestId("unknown-warning")).toContainText("never sent")
  await expect(page.getByTestId("monitor-orders")).toContainText("1 unknown")
  await shots(page, "floor-unknown-order")

  // The next cycle asks Coinspot's order history, finds the order and books its fill.
  const next = new Date(Date.parse(bars.hold) + 5 * 60_000).toISOString()
  await runCycle(deployment!.id, next)
  await expect(page.getByTestId(`order-status-${orderId}`)).toHaveCount(0, { timeout: LIVE })
  await expect(page.getByTestId(`resolved-${orderId}`)).toContainText("filled")
  await expect(page.getByTestId("trades-table").locator("tbody tr").first()).toContainText("reconciliation")
  await expect(page.getByTestId("monitor-orders")).toContainText("0 unknown")
  await expectNoReload(page)
  await shots(page, "floor-unknown-resolved")

  // Reconciliation against the simulator's account, on demand: the panel shows the run.
  await page.getByTestId("recon-run").click()
  await expect(page.getByTestId("recon-last-run")).toContainText("Last run")
  await expect(page.getByTestId("recon-empty").or(page.locator("[data-testid^=break-]").first())).toBeVisible()
  expect(errors).toEqual([])
})
