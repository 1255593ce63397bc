/**
 * Light or dark: the user's choice, following the system by default.
 *
 * Rules kept here: the choice ("system", "light", "dark") is kept in this browser only
 * (localStorage); "system" follows the operating system live; the dark look is the class
 * `omc-dark` on <html>, which PrimeVue's theme (darkModeSelector) and styles.css read.
 */
export type ThemeChoice = "system" | "light" | "dark"

const KEY = "omc.theme"
export const DARK_CLASS = "omc-dark"

export function readChoice(storage: Pick<Storage, "getItem"> | undefined = globalThis.localStorage): ThemeChoice {
  const stored = storage?.getItem(KEY)
  return stored === "light" || stored === "dark" ? stored : "system"
}

export function isDark(choice: ThemeChoice, systemPrefersDark: boolean): boolean {
  return choice === "dark" || (choice === "system" && systemPrefersDark)
}

function systemQuery(): MediaQueryList | null {
  return typeof window !== "undefined" && typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null
}

export function applyTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): void {
  root.classList.toggle(DARK_CLASS, isDark(choice, systemQuery()?.matches ?? false))
}

export function saveChoice(choice: ThemeChoice): void {
  if (choice === "system") globalThis.localStorage?.removeItem(KEY)
  else globalThis.localStorage?.setItem(KEY, choice)
  applyTheme(choice)
}

/** Apply the stored choice now and whenever the system's preference changes. */
export function startTheme(): void {
  applyTheme(readChoice())
  systemQuery()?.addEventListener("change", () => applyTheme(readChoice()))
}
