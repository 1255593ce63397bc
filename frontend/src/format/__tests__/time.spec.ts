import { describe, expect, it } from "vitest"

import { calendarDay, dayText, formatDate, formatDateTime, parseDayText, startOfDay } from "../time"

describe("formatDateTime", () => {
  const instant = "2026-12-01T19:05:00Z"

  it("writes day/month/year in the profile's zone and names the zone", () => {
    expect(formatDateTime(instant, "Australia/Sydney")).toBe("02/12/2026 06:05 AEDT")
    expect(formatDateTime(instant, "UTC")).toBe("01/12/2026 19:05 UTC")
    expect(formatDate(instant, "Australia/Sydney")).toBe("02/12/2026")
  })

  it("falls back to UTC for an unknown zone and shows a dash for nothing", () => {
    expect(formatDateTime(instant, "Mars/Olympus")).toBe("01/12/2026 19:05 UTC")
    expect(formatDateTime(null, "UTC")).toBe("—")
    expect(formatDateTime("not a date", "UTC")).toBe("—")
  })
})

describe("calendar days in the profile's zone", () => {
  it("starts a day at local midnight of the zone, across daylight saving", () => {
    expect(startOfDay("2026-12-25", "Australia/Sydney")?.toISOString()).toBe("2026-12-24T13:00:00.000Z")
    expect(startOfDay("2026-06-25", "Australia/Sydney")?.toISOString()).toBe("2026-06-24T14:00:00.000Z")
    expect(startOfDay("2026-12-25", "UTC")?.toISOString()).toBe("2026-12-25T00:00:00.000Z")
    expect(startOfDay("2026-02-30", "UTC")).toBeNull()
    expect(startOfDay("", "UTC")).toBeNull()
  })

  it("reads and writes day/month/year only", () => {
    expect(calendarDay("2026-12-24T13:30:00Z", "Australia/Sydney")).toBe("2026-12-25")
    expect(dayText("2026-12-25")).toBe("25/12/2026")
    expect(parseDayText("25/12/2026")).toBe("2026-12-25")
    expect(parseDayText("5/1/2026")).toBe("2026-01-05")
    expect(parseDayText("12/25/2026")).toBeNull()
    expect(parseDayText("31/02/2026")).toBeNull()
  })
})
