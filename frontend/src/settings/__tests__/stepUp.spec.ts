import { describe, expect, it } from "vitest"

import { ApiError } from "@/api/errors"

import { StepUpRequired, stepUpKind, unwrapStepUp } from "../stepUp"

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  const response = new Response(JSON.stringify(body), { status, headers })
  return status < 400 ? { data: body, response } : { error: body, response }
}

describe("stepUpKind", () => {
  it("reads the step-up header of a 403", () => {
    expect(stepUpKind(new Response(null, { status: 403, headers: { "X-Step-Up-Required": "totp" } }))).toBe("totp")
    expect(stepUpKind(new Response(null, { status: 403, headers: { "x-step-up-required": "enrol" } }))).toBe("enrol")
  })

  it("ignores other answers and unknown values", () => {
    expect(stepUpKind(new Response(null, { status: 403 }))).toBeNull()
    expect(stepUpKind(new Response(null, { status: 401, headers: { "X-Step-Up-Required": "totp" } }))).toBeNull()
    expect(stepUpKind(new Response(null, { status: 403, headers: { "X-Step-Up-Required": "sms" } }))).toBeNull()
    expect(stepUpKind(undefined)).toBeNull()
  })
})

describe("unwrapStepUp", () => {
  it("returns the data of a successful call", async () => {
    await expect(unwrapStepUp(Promise.resolve(answer(201, { label: "x" })))).resolves.toEqual({ label: "x" })
  })

  it("turns a step-up 403 into StepUpRequired with its kind and the server's words", async () => {
    const call = Promise.resolve(answer(403, { detail: "Confirm a code" }, { "X-Step-Up-Required": "totp" }))
    const error = await unwrapStepUp(call).catch((thrown: unknown) => thrown)
    expect(error).toBeInstanceOf(StepUpRequired)
    expect(error).toMatchObject({ kind: "totp", status: 403, message: "Confirm a code" })
  })

  it("leaves other failures as plain ApiErrors", async () => {
    const forbidden = await unwrapStepUp(Promise.resolve(answer(403, { detail: "No" }))).catch((thrown: unknown) => thrown)
    expect(forbidden).toBeInstanceOf(ApiError)
    expect(forbidden).not.toBeInstanceOf(StepUpRequired)
    const offline = await unwrapStepUp(Promise.reject(new TypeError("Failed to fetch"))).catch((thrown: unknown) => thrown)
    expect(offline).toMatchObject({ status: 0 })
  })
})
