/** Turning API failures into sentences a user can act on. */

interface FieldError {
  loc?: Array<string | number>
  msg?: string
}

/** An API call that failed: the HTTP status and the server's `detail`, made readable. */
export class ApiError extends Error {
  readonly status: number
  /** The server's `detail` as it came (a string or FastAPI's list of field errors). */
  readonly detail: unknown

  constructor(status: number, message: string, detail?: unknown) {
    super(message)
    this.name = "ApiError"
    this.status = status
    this.detail = detail
  }
}

/** Whether the thing asked for does not exist (404) or cannot be named at all (a malformed id: 422). */
export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || (error.status === 422 && isPathError(error.detail)))
}

function isPathError(detail: unknown): boolean {
  return Array.isArray(detail) && detail.some((item) => Array.isArray((item as FieldError).loc) && (item as FieldError).loc?.[0] === "path")
}

/** Retry a failed query only when trying again can help: never for an answer of 4xx. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false
  return failureCount < 1
}

function describeField(error: FieldError): string {
  // FastAPI's locations start with where the value came from ("body", "query"): drop it.
  const where = (error.loc ?? []).filter((part, i) => !(i === 0 && typeof part === "string" && ["body", "query", "path"].includes(part)))
  const message = (error.msg ?? "is invalid").replace(/^Value error, /, "")
  return where.length ? `${where.join(".")}: ${message}` : message
}

/** The readable message of an error body (`{"detail": ...}`) or of a thrown value. */
export function errorMessage(body: unknown, status?: number): string {
  if (body instanceof Error) return body.message
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail
    if (typeof detail === "string" && detail.trim()) return detail
    if (Array.isArray(detail) && detail.length) {
      return detail.map((item) => describeField(item as FieldError)).join("; ")
    }
  }
  if (typeof body === "string" && body.trim()) return body
  if (status === undefined) return "The server could not be reached. Check your connection and try again."
  if (status >= 500) return `The server failed to answer (HTTP ${status}). Try again in a moment.`
  return `The request failed (HTTP ${status}).`
}

interface ClientResult<T> {
  data?: T
  error?: unknown
  response?: Response
}

/** The data of a generated-client call, or an ApiError carrying the server's detail. */
export async function unwrap<T>(call: Promise<ClientResult<T>>): Promise<T> {
  let result: ClientResult<T>
  try {
    result = await call
  } catch (thrown) {
    throw new ApiError(0, errorMessage(thrown))
  }
  const status = result.response?.status ?? 0
  if (result.error !== undefined || !result.response?.ok) {
    const detail = result.error && typeof result.error === "object" && "detail" in result.error ? (result.error as { detail: unknown }).detail : undefined
    throw new ApiError(status, errorMessage(result.error, result.response?.status), detail)
  }
  return result.data as T
}
