/**
 * Trade markers on a price chart that stay readable with hundreds of trades.
 *
 * Rules kept here: each trade lands on the bar at or before it (markers must sit on bars of
 * the series); trades of one side on one bar become one marker that counts them ("B×3"); no
 * trade is dropped, so the counts always add up to the trades shown.
 */
export interface Trade {
  time: number
  side: "buy" | "sell"
}

export interface BarMarker {
  time: number
  side: "buy" | "sell"
  text: string
  count: number
}

export function markersOnBars(bars: number[], trades: Trade[]): BarMarker[] {
  if (!bars.length) return []
  const grouped = new Map<string, BarMarker>()
  for (const trade of trades) {
    // The last bar at or before the trade (binary search: bars are sorted).
    let lo = 0
    let hi = bars.length - 1
    let at = bars[0]!
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (bars[mid]! <= trade.time) {
        at = bars[mid]!
        lo = mid + 1
      } else hi = mid - 1
    }
    const key = `${at}:${trade.side}`
    const marker = grouped.get(key) ?? { time: at, side: trade.side, text: "", count: 0 }
    marker.count += 1
    grouped.set(key, marker)
  }
  return [...grouped.values()]
    .map((m) => ({ ...m, text: `${m.side === "buy" ? "B" : "S"}${m.count > 1 ? `×${m.count}` : ""}` }))
    .sort((a, b) => a.time - b.time || a.side.localeCompare(b.side))
}

/** The bar size for a run's price chart: candles a trader can read over the run's length. */
export function candleInterval(days: number): "15m" | "1h" | "4h" | "1d" {
  if (days > 365) return "1d"
  if (days > 60) return "4h"
  if (days > 3) return "1h"
  return "15m"
}
