/**
 * How chart axes, crosshair labels and the price readout write numbers and times.
 *
 * Rules kept here: numbers carry thousands separators (en-AU) and a fixed number of decimals
 * per chart, percentages end in "%", and times are written in the profile's time zone (the
 * chart library itself only knows UTC).
 */

/** Decimals that suit the values: 2 for AUD amounts and BTC, 4 for coins near 1 AUD, 8 below. */
export function precisionFor(values: number[]): number {
  const peak = Math.max(0, ...values.slice(0, 5000).map(Math.abs))
  return peak >= 100 ? 2 : peak >= 1 ? 4 : 8
}

export function axisNumber(value: number, precision: number, percent = false): string {
  if (!Number.isFinite(value)) return ""
  const digits = percent ? 2 : precision
  const text = value.toLocaleString("en-AU", { minimumFractionDigits: digits, maximumFractionDigits: digits })
  return percent ? `${text} %` : text
}

function zoneParts(seconds: number, zone: string, options: Intl.DateTimeFormatOptions): Record<string, string> {
  let format: Intl.DateTimeFormat
  try {
    format = new Intl.DateTimeFormat("en-AU", { timeZone: zone, hourCycle: "h23", ...options })
  } catch {
    format = new Intl.DateTimeFormat("en-AU", { timeZone: "UTC", hourCycle: "h23", ...options })
  }
  return Object.fromEntries(format.formatToParts(new Date(seconds * 1000)).map((p) => [p.type, p.value]))
}

/** A crosshair label: "25/12/2026 09:05 AEDT". */
export function crosshairTime(seconds: number, zone: string): string {
  const p = zoneParts(seconds, zone, { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" })
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute} ${p.timeZoneName}`
}

/** A tick on the time axis: the time within a day, else the day, month or year. */
export function tickTime(seconds: number, zone: string, kind: "year" | "month" | "day" | "time"): string {
  const p = zoneParts(seconds, zone, { day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" })
  if (kind === "year") return p.year ?? ""
  if (kind === "month") return `${p.month} ${p.year}`
  if (kind === "day") return `${p.day} ${p.month}`
  return `${p.hour}:${p.minute}`
}
