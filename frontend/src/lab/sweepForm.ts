/**
 * The sweep form: which values each swept parameter takes, how many combinations that makes,
 * and checks before sending (the server checks again).
 *
 * Rules kept here: `axisValues` mirrors the server's `_range_values`
 * (backend/app/lab/backtests/sweep_space.py): evenly spaced points from min to max, and for
 * whole-number parameters the rounded points, each value once — so the count shown is the
 * count the server makes. Numbers typed are checked, never clamped.
 */
import { checkNumber } from "@/forms/number"

import { checkConstraints, type Constraint, type ParamField } from "./paramForm"

export interface Axis {
  use: boolean
  min: number | null
  max: number | null
  steps: number | null
}

export type SweepMode = "grid" | "random"

/** The values a range axis takes (empty when the axis is not valid yet). */
export function axisValues(kind: ParamField["kind"], axis: Axis): number[] {
  const { min, max, steps } = axis
  if (min === null || max === null || steps === null || !Number.isFinite(min) || !Number.isFinite(max) || !Number.isInteger(steps) || steps < 1 || min > max) return []
  const points = steps === 1 || min === max ? [min] : Array.from({ length: steps }, (_, i) => min + ((max - min) * i) / (steps - 1))
  if (kind === "integer") return [...new Set(points.map((p) => roundHalfEven(p)))]
  return points
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value)
  const diff = value - floor
  if (Math.abs(diff - 0.5) < 1e-9) return floor % 2 === 0 ? floor : floor + 1
  return Math.round(value)
}

/** Combinations of the grid over the used axes. */
export function gridSize(fields: ParamField[], axes: Record<string, Axis>): number {
  return fields.filter((f) => axes[f.name]?.use).reduce((n, f) => n * axisValues(f.kind, axes[f.name]!).length, 1)
}

export type AxisErrors = Partial<Record<"min" | "max" | "steps", string>>

export function checkAxis(field: ParamField, axis: Axis): AxisErrors {
  const errors: AxisErrors = {}
  const integer = field.kind === "integer"
  const bound = { min: field.min ?? undefined, max: field.max ?? undefined, integer }
  const min = checkNumber(axis.min, { label: "From", ...bound })
  if (min) errors.min = min
  const max = checkNumber(axis.max, { label: "To", ...bound })
  if (max) errors.max = max
  if (!errors.min && !errors.max && axis.min! > axis.max!) errors.max = "To must not be below From"
  const steps = checkNumber(axis.steps, { label: "Steps", min: 1, max: 1000, integer: true })
  if (steps) errors.steps = steps
  return errors
}

export function checkSamples(mode: SweepMode, samples: number | null, cap: number): string | undefined {
  if (mode !== "random") return undefined
  return checkNumber(samples, { label: "Samples", min: 1, max: cap, integer: true })
}

/** A heatmap colour: red (worst) to green (best) over [lo, hi]. */
export function heatColor(value: number | null | undefined, lo: number, hi: number, higherIsBetter: boolean | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "#f3f4f6"
  const t = hi > lo ? (value - lo) / (hi - lo) : 0.5
  const good = higherIsBetter === false ? 1 - t : t
  return `hsl(${Math.round(good * 120)}, 65%, 70%)`
}

/**
 * How many grid combinations break a declared constraint (the server skips them), or null
 * when the grid is too large to enumerate here. Unswept parameters keep their `base` values.
 */
export function skippedByConstraints(
  fields: ParamField[],
  axes: Record<string, Axis>,
  base: Record<string, unknown>,
  constraints: Constraint[],
  limit = 200_000,
): number | null {
  if (!constraints.length) return 0
  const used = fields.filter((f) => axes[f.name]?.use)
  if (gridSize(fields, axes) > limit) return null
  const values = used.map((f) => axisValues(f.kind, axes[f.name]!))
  let skipped = 0
  const combo: Record<string, unknown> = { ...base }
  const walk = (i: number): void => {
    if (i === used.length) {
      if (Object.keys(checkConstraints(constraints, combo)).length) skipped += 1
      return
    }
    for (const v of values[i]!) {
      combo[used[i]!.name] = v
      walk(i + 1)
    }
  }
  walk(0)
  return skipped
}
