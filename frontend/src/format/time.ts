/**
 * Times as the user reads them: one date format (day/month/year, as in Australia) and every
 * time in the profile's time zone with the zone named.
 *
 * Rules kept here: the instant is never changed, only how it is written; an unknown or empty
 * zone falls back to UTC (named as such) rather than the browser's zone.
 */

function safeZone(zone: string | null | undefined): string {
  if (!zone) return "UTC"
  try {
    new Intl.DateTimeFormat("en-AU", { timeZone: zone })
    return zone
  } catch {
    return "UTC"
  }
}

function parts(value: string | number | Date, zone: string, withTime: boolean): Record<string, string> {
  const date = value instanceof Date ? value : new Date(value)
  const format = new Intl.DateTimeFormat("en-AU", {
    timeZone: zone,
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    ...(withTime ? { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" } : {}),
  })
  return Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]))
}

/** "25/12/2026 09:05 AEDT": the date, the time and the zone's short name. */
export function formatDateTime(value: string | number | Date | null | undefined, zone?: string | null): string {
  if (value === null || value === undefined || value === "") return "—"
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) return "—"
  const p = parts(date, safeZone(zone), true)
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute} ${p.timeZoneName}`
}

/** "25/12/2026": the calendar date in the zone. */
export function formatDate(value: string | number | Date | null | undefined, zone?: string | null): string {
  if (value === null || value === undefined || value === "") return "—"
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) return "—"
  const p = parts(date, safeZone(zone), false)
  return `${p.day}/${p.month}/${p.year}`
}

/** Minutes the zone is ahead of UTC at `instant`. */
function offsetMinutes(instant: number, zone: string): number {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  })
  const p = Object.fromEntries(format.formatToParts(new Date(instant)).map((x) => [x.type, x.value]))
  const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second))
  return Math.round((asUtc - Math.floor(instant / 1000) * 1000) / 60_000)
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/

/** The instant a calendar day ("2026-12-25") starts in `zone`, or null for a bad date. */
export function startOfDay(day: string, zone?: string | null): Date | null {
  const match = DAY.exec(day)
  if (!match) return null
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const guess = Date.UTC(y, m - 1, d)
  const check = new Date(guess)
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) return null
  const z = safeZone(zone)
  let instant = guess - offsetMinutes(guess, z) * 60_000
  instant = guess - offsetMinutes(instant, z) * 60_000
  return new Date(instant)
}

/** The calendar day ("2026-12-25") of an instant in `zone`. */
export function calendarDay(value: string | number | Date, zone?: string | null): string {
  const date = value instanceof Date ? value : new Date(value)
  const p = parts(date, safeZone(zone), false)
  return `${p.year}-${p.month}-${p.day}`
}

/** "2026-12-25" → "25/12/2026" (the one way dates are written). */
export function dayText(day: string): string {
  const match = DAY.exec(day)
  return match ? `${match[3]}/${match[2]}/${match[1]}` : ""
}

/** "25/12/2026" (or 25-12-2026, 25.12.2026) → "2026-12-25"; null when it is not a real date. */
export function parseDayText(text: string): string | null {
  const match = /^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$/.exec(text)
  if (!match) return null
  const day = `${match[3]}-${match[2]!.padStart(2, "0")}-${match[1]!.padStart(2, "0")}`
  return startOfDay(day, "UTC") ? day : null
}
