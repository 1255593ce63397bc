/**
 * The allocation pie: each coin's share of the portfolio's value, largest first, as SVG arcs.
 *
 * Rules kept here: value = quantity × the latest bid we know (cost basis when no price is
 * known yet), cash is a slice of its own; slices under 2 % are folded into "Other" so the
 * pie stays readable; the shares add up to exactly 1.
 */
export interface Slice {
  label: string
  value: number
  share: number
  color: string
  path: string
}

const COLORS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#f97316", "#14b8a6", "#6b7280"]

function arc(start: number, end: number, r = 50, c = 50): string {
  if (end - start >= 0.9999) return `M ${c} ${c - r} A ${r} ${r} 0 1 1 ${c - 0.01} ${c - r} Z`
  const a0 = 2 * Math.PI * start - Math.PI / 2
  const a1 = 2 * Math.PI * end - Math.PI / 2
  const large = end - start > 0.5 ? 1 : 0
  const p = (a: number) => `${(c + r * Math.cos(a)).toFixed(3)} ${(c + r * Math.sin(a)).toFixed(3)}`
  return `M ${c} ${c} L ${p(a0)} A ${r} ${r} 0 ${large} 1 ${p(a1)} Z`
}

export function slices(values: Array<{ label: string; value: number }>, minShare = 0.02): Slice[] {
  const positive = values.filter((v) => Number.isFinite(v.value) && v.value > 0)
  const total = positive.reduce((s, v) => s + v.value, 0)
  if (total <= 0) return []
  const sorted = [...positive].sort((a, b) => b.value - a.value)
  const kept = sorted.filter((v) => v.value / total >= minShare)
  const rest = sorted.filter((v) => v.value / total < minShare).reduce((s, v) => s + v.value, 0)
  if (rest > 0) kept.push({ label: "Other", value: rest })
  let at = 0
  return kept.map((v, i) => {
    const share = i === kept.length - 1 ? 1 - at : v.value / total
    const slice = { label: v.label, value: v.value, share, color: COLORS[i % COLORS.length]!, path: arc(at, at + share) }
    at += share
    return slice
  })
}
