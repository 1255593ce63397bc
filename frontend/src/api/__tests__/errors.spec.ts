import { describe, expect, it } from "vitest"

import { ApiError, errorMessage, unwrap } from "../errors"

function response(status: number): Response {
  return new Response(null, { status })
}

describe("errorMessage", () => {
  it("uses a string detail as it is", () => {
    expect(errorMessage({ detail: "Incorrect email or password" }, 400)).toBe("Incorrect email or password")
  })

  it("joins FastAPI validation errors with their field, without the body/query prefix", () => {
    const body = {
      detail: [
        { loc: ["body", "timezone"], msg: "Value error, 'Mars/Base' is not an IANA time zone name" },
        { loc: ["body", "daily_loss_limit_aud"], msg: "Input should be greater than or equal to 0" },
      ],
    }
    expect(errorMessage(body, 422)).toBe(
      "timezone: 'Mars/Base' is not an IANA time zone name; daily_loss_limit_aud: Input should be greater than or equal to 0",
    )
  })

  it("explains a server failure and an unreachable server differently", () => {
    expect(errorMessage(undefined, 503)).toMatch(/HTTP 503/)
    expect(errorMessage(undefined)).toMatch(/could not be reached/)
  })

  it("uses the message of a thrown error", () => {
    expect(errorMessage(new TypeError("Failed to fetch"))).toBe("Failed to fetch")
  })
})

describe("unwrap", () => {
  it("returns the data of a successful call", async () => {
    await expect(unwrap(Promise.resolve({ data: { id: 1 }, response: response(200) }))).resolves.toEqual({ id: 1 })
  })

  it("throws an ApiError with the status and the detail", async () => {
    const failing = unwrap(Promise.resolve({ error: { detail: "Not enough privileges" }, response: response(403) }))
    await expect(failing).rejects.toBeInstanceOf(ApiError)
    await expect(failing).rejects.toMatchObject({ status: 403, message: "Not enough privileges" })
  })

  it("turns a network failure into status 0", async () => {
    await expect(unwrap(Promise.reject(new TypeError("Failed to fetch")))).rejects.toMatchObject({
      status: 0,
      message: "Failed to fetch",
    })
  })
})
