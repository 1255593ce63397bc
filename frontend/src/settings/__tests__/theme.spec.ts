import { afterEach, describe, expect, it } from "vitest"

import { applyTheme, DARK_CLASS, isDark, readChoice, saveChoice } from "../theme"

describe("theme", () => {
  afterEach(() => {
    localStorage.clear()
    document.documentElement.classList.remove(DARK_CLASS)
  })

  it("follows the system unless the user chose", () => {
    expect(readChoice()).toBe("system")
    expect(isDark("system", true)).toBe(true)
    expect(isDark("system", false)).toBe(false)
    expect(isDark("light", true)).toBe(false)
    expect(isDark("dark", false)).toBe(true)
  })

  it("remembers the choice and switches the page's class", () => {
    saveChoice("dark")
    expect(readChoice()).toBe("dark")
    expect(document.documentElement.classList.contains(DARK_CLASS)).toBe(true)
    saveChoice("system")
    expect(readChoice()).toBe("system")
    applyTheme("light")
    expect(document.documentElement.classList.contains(DARK_CLASS)).toBe(false)
  })
})
