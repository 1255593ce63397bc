import { execFile } from "node:child_process"
import { promisify } from "node:util"

import { expect, type APIRequestContext, type Page } from "@playwright/test"

// What the Floor journeys need besides the browser: the API with a token of the test's user,
// the Coinspot simulator's admin API (prices, faults) and the executor's CLI, which decides a
// chosen bar in a process of its own (as a replica would): its orders, fills and P&L reach the
// page only through the events and the WebSocket.
const run = promisify(execFile)
export const simulatorUrl = process.env.E2E_SIMULATOR_URL ?? process.env.COINSPOT_BASE_URL ?? ""
const backendDir = process.env.E2E_BACKEND_DIR ?? "../backend"

export class Api {
  constructor(
    readonly request: APIRequestContext,
    readonly token: string,
  ) {}

  static async login(request: APIRequestContext, email: string, password: string): Promise<Api> {
    const response = await request.post("/api/v1/login/access-token", { form: { username: email, password } })
    expect(response.ok(), await response.text()).toBe(true)
    return new Api(request, ((await response.json()) as { access_token: string }).access_token)
  }

  async call<T>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, data?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await this.request.fetch(`/api/v1${path}`, { method, data, headers: { Authorization: `Bearer ${this.token}`, ...headers } })
    const text = await response.text()
    expect(response.ok(), `${method} ${path}: ${response.status()} ${text}`).toBe(true)
    return (text ? JSON.parse(text) : null) as T
  }
}

export async function simulator<T>(request: APIRequestContext, method: "GET" | "POST" | "PUT" | "DELETE", path: string, data?: unknown): Promise<T> {
  const response = await request.fetch(`${simulatorUrl}/_admin${path}`, { method, data })
  const text = await response.text()
  expect(response.ok(), `simulator ${method} ${path}: ${text}`).toBe(true)
  return (text ? JSON.parse(text) : null) as T
}

/** Move a coin's price on the simulator by `factor` (bid, ask and last together). */
export async function movePrice(request: APIRequestContext, coin: string, factor: number): Promise<void> {
  const prices = await simulator<Record<string, unknown>>(request, "GET", "/prices")
  const table = ((prices.prices ?? prices) as Record<string, { bid: string; ask: string; last: string }>)
  const now = table[coin] ?? table[coin.toLowerCase()]
  expect(now, `simulator price of ${coin}`).toBeTruthy()
  const scale = (v: string) => (Number(v) * factor).toPrecision(10)
  await simulator(request, "PUT", `/prices/${coin}`, { bid: scale(now!.bid), ask: scale(now!.ask), last: scale(now!.last) })
}

/** One executor cycle of a deployment on `bar`, through the CLI (`app.floor.cli run-cycle`). */
export async function runCycle(deploymentId: string, bar: string): Promise<{ status: string; orders: string[] }> {
  const { stdout } = await run(`${backendDir}/.venv/bin/python`, ["-m", "app.floor.cli", "run-cycle", "--deployment", deploymentId, "--bar", bar], {
    cwd: backendDir,
    env: process.env,
    timeout: 120_000,
  })
  const line = stdout.trim().split("\n").pop() ?? "{}"
  return JSON.parse(line) as { status: string; orders: string[] }
}

export async function login(page: Page, email: string, password: string): Promise<void> {
  await page.goto("/login")
  await page.getByLabel("Email").fill(email)
  await page.locator("#password").fill(password)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId("page-title")).toHaveText("Dashboard")
}

/**
 * Decision bars (5 minutes) from a backtest's trades: the middle of a holding (`hold`), of the
 * flat stretch after it (`flat`) and of the next holding (`again`), each at least 30 minutes.
 */
export function holdFlatHold(trades: Array<{ time: string; side: string }>): { hold: string; flat: string; again: string } {
  const bar = (ms: number) => new Date(Math.floor(ms / 300_000) * 300_000).toISOString()
  const long = (a: number, b: number) => b - a >= 30 * 60_000
  for (let i = 0; i + 3 < trades.length; i++) {
    const [t0, t1, t2, t3] = [trades[i]!, trades[i + 1]!, trades[i + 2]!, trades[i + 3]!]
    if (t0.side !== "buy" || t1.side !== "sell" || t2.side !== "buy" || t3.side !== "sell") continue
    const [a, b, c, d] = [t0, t1, t2, t3].map((t) => Date.parse(t.time)) as [number, number, number, number]
    if (long(a, b) && long(b, c) && long(c, d)) return { hold: bar((a + b) / 2), flat: bar((b + c) / 2), again: bar((c + d) / 2) }
  }
  throw new Error("the backtest has no buy-sell-buy-sell with long enough stretches")
}
