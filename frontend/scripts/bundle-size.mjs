// Report the web app's initial JavaScript (what the browser must load before the first
// page renders: the entry script and its modulepreloads) gzipped, and the largest lazy
// chunks. Fails when the initial JavaScript exceeds the budget.
//   node scripts/bundle-size.mjs [--budget-kb 500]
import { readFileSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"

const dist = new URL("../dist/", import.meta.url).pathname
const budgetIndex = process.argv.indexOf("--budget-kb")
const budgetKb = budgetIndex > 0 ? Number(process.argv[budgetIndex + 1]) : 500

const html = readFileSync(join(dist, "index.html"), "utf8")
const initial = new Set(
  [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]),
)
const gz = (file) => gzipSync(readFileSync(join(dist, file))).length / 1024

let total = 0
console.log("initial JavaScript (gzipped):")
for (const file of initial) {
  const size = gz(file)
  total += size
  console.log(`  ${size.toFixed(1).padStart(8)} kB  ${file}`)
}
console.log(`  ${total.toFixed(1).padStart(8)} kB  total (budget ${budgetKb} kB)`)

const lazy = readdirSync(join(dist, "assets"))
  .filter((f) => f.endsWith(".js") && !initial.has(`assets/${f}`))
  .map((f) => ({ f, size: gz(`assets/${f}`) }))
  .sort((a, b) => b.size - a.size)
  .slice(0, 6)
console.log("largest lazy chunks (gzipped, loaded on the pages that need them):")
for (const { f, size } of lazy) console.log(`  ${size.toFixed(1).padStart(8)} kB  assets/${f}`)

if (total > budgetKb) {
  console.error(`initial JavaScript is ${total.toFixed(1)} kB gzipped, over the ${budgetKb} kB budget`)
  process.exit(1)
}
