/**
 * Step-up for sensitive calls: the API answers 403 with the header `X-Step-Up-Required` when
 * an action needs a fresh second factor — `enrol` (two-factor authentication is not on yet) or
 * `totp` (a current code is needed: POST /security/step-up, then retry the same call).
 */
import { ApiError, errorMessage, unwrap } from "@/api/errors"

import { STEP_UP_HEADER } from "./store"

export type StepUpKind = "enrol" | "totp"

/** A 403 that a fresh second factor (or enrolling in 2FA first) would lift. */
export class StepUpRequired extends ApiError {
  readonly kind: StepUpKind

  constructor(kind: StepUpKind, message: string, detail?: unknown) {
    super(403, message, detail)
    this.name = "StepUpRequired"
    this.kind = kind
  }
}

/** What a response asks for: `enrol`, `totp`, or nothing (not a step-up 403). */
export function stepUpKind(response: Pick<Response, "status" | "headers"> | undefined): StepUpKind | null {
  if (!response || response.status !== 403) return null
  const value = response.headers.get(STEP_UP_HEADER)?.trim().toLowerCase()
  return value === "enrol" || value === "totp" ? value : null
}

interface ClientResult<T> {
  data?: T
  error?: unknown
  response?: Response
}

/** Like `unwrap`, but a step-up 403 becomes a `StepUpRequired` the caller can act on. */
export async function unwrapStepUp<T>(call: Promise<ClientResult<T>>): Promise<T> {
  let result: ClientResult<T>
  try {
    result = await call
  } catch (thrown) {
    throw new ApiError(0, errorMessage(thrown))
  }
  const kind = stepUpKind(result.response)
  if (kind) {
    const detail = result.error && typeof result.error === "object" && "detail" in result.error ? (result.error as { detail: unknown }).detail : undefined
    throw new StepUpRequired(kind, errorMessage(result.error, 403), detail)
  }
  return unwrap(Promise.resolve(result))
}
