/** The parameter form of an algorithm, generated from its JSON schema. */

export interface SchemaProperty {
  type?: string
  enum?: Array<string | number>
  default?: unknown
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  description?: string
  title?: string
}

/** A relation between parameters the algorithm declares (`constraints = ("fast < slow",)`). */
export interface Constraint {
  text: string
  left: string
  op: "<" | "<=" | ">" | ">=" | "!="
  right: string | number
}

export interface ParameterSchema {
  properties?: Record<string, SchemaProperty>
  "x-constraints"?: Constraint[]
}

const WORDS: Record<Constraint["op"], string> = { "<": "less than", "<=": "at most", ">": "more than", ">=": "at least", "!=": "different from" }
const HOLDS: Record<Constraint["op"], (a: number, b: number) => boolean> = {
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
  "!=": (a, b) => a !== b,
}

export function constraintsOf(schema: ParameterSchema | null | undefined): Constraint[] {
  return schema?.["x-constraints"] ?? []
}

/** The declared constraints `values` break, keyed by the left-hand parameter (as the server words them). */
export function checkConstraints(constraints: Constraint[], values: Record<string, unknown>): Record<string, string> {
  const problems: Record<string, string> = {}
  for (const c of constraints) {
    const left = values[c.left]
    const right = typeof c.right === "string" ? values[c.right] : c.right
    if (typeof left !== "number" || typeof right !== "number" || !Number.isFinite(left) || !Number.isFinite(right)) continue
    if (!HOLDS[c.op](left, right)) {
      const shown = typeof c.right === "string" ? `${c.right} (${right})` : String(right)
      problems[c.left] = `${c.left} (${left}) must be ${WORDS[c.op]} ${shown}: the algorithm requires ${c.text}`
    }
  }
  return problems
}

export type FieldKind = "integer" | "number" | "boolean" | "choice"

export interface ParamField {
  name: string
  label: string
  kind: FieldKind
  description: string
  min: number | null
  max: number | null
  step: number
  options: Array<string | number>
  default: unknown
}

function label(name: string, spec: SchemaProperty): string {
  if (spec.title) return spec.title
  const words = name.replace(/_/g, " ")
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** One form field per declared parameter, with bounds the inputs enforce. */
export function fieldsFromSchema(schema: ParameterSchema | null | undefined): ParamField[] {
  const properties = schema?.properties ?? {}
  return Object.entries(properties).map(([name, spec]) => {
    const kind: FieldKind = spec.enum ? "choice" : spec.type === "integer" ? "integer" : spec.type === "boolean" ? "boolean" : "number"
    const min = spec.minimum ?? spec.exclusiveMinimum ?? null
    const max = spec.maximum ?? spec.exclusiveMaximum ?? null
    const span = min !== null && max !== null ? max - min : null
    const step = kind === "integer" ? 1 : span !== null && span > 0 ? Number((span / 100).toPrecision(1)) : 0.01
    return {
      name,
      label: label(name, spec),
      kind,
      description: spec.description ?? "",
      min,
      max,
      step,
      options: spec.enum ?? [],
      default: spec.default,
    }
  })
}

/** Problems with values before they are sent (the server checks them again). */
export function checkValues(fields: ParamField[], values: Record<string, unknown>): Record<string, string> {
  const problems: Record<string, string> = {}
  for (const field of fields) {
    const value = values[field.name]
    if (field.kind === "boolean") {
      if (typeof value !== "boolean") problems[field.name] = `${field.label} must be on or off`
    } else if (field.kind === "choice") {
      if (!field.options.includes(value as string | number)) problems[field.name] = `${field.label}: choose one of ${field.options.join(", ")}`
    } else if (typeof value !== "number" || !Number.isFinite(value)) {
      problems[field.name] = `${field.label} must be a number`
    } else if (field.kind === "integer" && !Number.isInteger(value)) {
      problems[field.name] = `${field.label} must be a whole number`
    } else if (field.min !== null && value < field.min) {
      problems[field.name] = `${field.label} must be at least ${field.min}`
    } else if (field.max !== null && value > field.max) {
      problems[field.name] = `${field.label} must be at most ${field.max}`
    }
  }
  return problems
}

/** Per-field problems first; then the algorithm's declared constraints between fields. */
export function checkAll(schema: ParameterSchema | null | undefined, values: Record<string, unknown>): Record<string, string> {
  const problems = checkValues(fieldsFromSchema(schema), values)
  if (Object.keys(problems).length) return problems
  return checkConstraints(constraintsOf(schema), values)
}

/** Current values for every field: the given ones, else the declared defaults. */
export function initialValues(fields: ParamField[], current: Record<string, unknown> | null | undefined): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f.name, current && f.name in current ? current[f.name] : f.default]))
}
