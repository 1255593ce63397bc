import { defineConfig } from "@playwright/test"

// The platform under test is started by scripts/test-frontend.sh, which passes its address.
// Debian's chromium is used as it is: browser downloads are impossible on our machines.
const baseURL = process.env.E2E_BASE_URL ?? "http://127.0.0.1:8000"

export default defineConfig({
  testDir: "./e2e",
  outputDir: "./test-results",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [["list"]],
  // The Floor journeys run a collector round and trade on the simulator, which changes what the
  // Markets pages show: they run after every other spec, which expect the demo data alone.
  projects: [
    { name: "main", testIgnore: /floor\.spec\.ts$/ },
    { name: "floor", testMatch: /floor\.spec\.ts$/, dependencies: ["main"] },
  ],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
      ],
    },
  },
})
