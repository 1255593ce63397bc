import { flushPromises, mount } from "@vue/test-utils"
import PrimeVue from "primevue/config"
import { describe, expect, it, vi } from "vitest"

import { ApiError } from "@/api/errors"

import LimitsPanel from "../LimitsPanel.vue"

const stored = { max_drawdown_fraction: "0.25", daily_loss_aud: null, max_orders_per_hour: 60, actions: { daily_loss_aud: "halted" } }
const mountPanel = (save?: (body: Record<string, unknown>) => Promise<void>) =>
  mount(LimitsPanel, { props: { limits: stored, actions: { daily_loss_aud: "halted" }, save }, global: { plugins: [PrimeVue] } })

describe("LimitsPanel", () => {
  it("reads the limits, with their breach actions, and offers no editing without a save", () => {
    const wrapper = mountPanel()
    expect(wrapper.get("[data-testid=limit-max_drawdown_fraction]").text()).toContain("25 %")
    expect(wrapper.get("[data-testid=limit-daily_loss_aud]").text()).toContain("no limit")
    expect(wrapper.get("[data-testid=limit-daily_loss_aud]").text()).toContain("on breach: halted")
    expect(wrapper.find("[data-testid=edit-limits]").exists()).toBe(false)
  })

  it("refuses a bad limit next to its box, keeps what was typed and sends nothing", async () => {
    const save = vi.fn(async () => undefined)
    const wrapper = mountPanel(save)
    await wrapper.get("[data-testid=edit-limits]").trigger("click")
    const box = wrapper.get("#edit-limit-max_drawdown_fraction")
    await box.setValue("-3")
    await wrapper.get("form").trigger("submit")
    await flushPromises()
    expect(save).not.toHaveBeenCalled()
    expect(wrapper.get("[data-testid=edit-limit-error-max_drawdown_fraction]").text()).toBe("Maximum drawdown must be more than 0 %")
    expect((box.element as HTMLInputElement).value).toBe("-3")
  })

  it("replaces the whole set, breach actions kept, and shows the server's 422 at its limit", async () => {
    const save = vi.fn(async (body: Record<string, unknown>) => {
      expect(body).toMatchObject({ max_drawdown_fraction: "0.3", daily_loss_aud: "150", actions: { daily_loss_aud: "halted" } })
      throw new ApiError(422, "bad", [{ loc: ["body", "daily_loss_aud"], msg: "Input should be less than or equal to 100" }])
    })
    const wrapper = mountPanel(save)
    await wrapper.get("[data-testid=edit-limits]").trigger("click")
    await wrapper.get("#edit-limit-max_drawdown_fraction").setValue("30")
    await wrapper.get("#edit-limit-daily_loss_aud").setValue("150")
    await wrapper.get("form").trigger("submit")
    await flushPromises()
    expect(save).toHaveBeenCalledOnce()
    expect(wrapper.get("[data-testid=edit-limit-error-daily_loss_aud]").text()).toBe("Daily loss limit must be at most 100")
  })
})
