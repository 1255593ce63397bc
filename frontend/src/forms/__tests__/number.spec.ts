import { mount } from "@vue/test-utils"
import PrimeVue from "primevue/config"
import { describe, expect, it } from "vitest"

import NumberField from "../NumberField.vue"
import { checkNumber, parseNumber } from "../number"

describe("parseNumber", () => {
  it("reads what was typed, sign and all", () => {
    expect(parseNumber("-1")).toBe(-1)
    expect(parseNumber("-500")).toBe(-500)
    expect(parseNumber(" 0.125 ")).toBe(0.125)
    expect(parseNumber("1,000,000")).toBe(1_000_000)
    expect(parseNumber("1e3")).toBe(1000)
    expect(parseNumber("")).toBeNull()
    expect(parseNumber("abc")).toBeNaN()
    expect(parseNumber("1,00")).toBeNaN()
    expect(parseNumber("--1")).toBeNaN()
  })
})

describe("checkNumber", () => {
  const fee = { label: "Fee", min: 0, max: 10, unit: "%" }
  it("names the problem instead of clamping", () => {
    expect(checkNumber(-1, fee)).toBe("Fee must be at least 0 %")
    expect(checkNumber(11, fee)).toBe("Fee must be at most 10 %")
    expect(checkNumber(0.1, fee)).toBeUndefined()
    expect(checkNumber(Number.NaN, fee)).toBe("Fee must be a number")
    expect(checkNumber(null, fee)).toBe("Enter fee")
    expect(checkNumber(0, { label: "Starting cash", min: 0, exclusiveMin: true })).toBe("Starting cash must be more than 0")
    expect(checkNumber(2.5, { label: "Fast", integer: true })).toBe("Fast must be a whole number")
  })
})

describe("NumberField", () => {
  it("keeps a negative or out-of-range number exactly as typed and emits it", async () => {
    const wrapper = mount(NumberField, { props: { modelValue: 0.1 }, global: { plugins: [PrimeVue] } })
    const input = wrapper.find("input")
    expect(input.element.value).toBe("0.1")
    await input.setValue("-1")
    expect(wrapper.emitted("update:modelValue")?.at(-1)).toEqual([-1])
    await wrapper.setProps({ modelValue: -1 })
    expect(input.element.value).toBe("-1")
    await input.setValue("5000000000")
    expect(wrapper.emitted("update:modelValue")?.at(-1)).toEqual([5_000_000_000])
    await input.trigger("blur")
    expect(input.element.value).toBe("5000000000")
  })

  it("shows a value set from outside", async () => {
    const wrapper = mount(NumberField, { props: { modelValue: 3 }, global: { plugins: [PrimeVue] } })
    await wrapper.setProps({ modelValue: 12 })
    expect(wrapper.find("input").element.value).toBe("12")
  })
})
