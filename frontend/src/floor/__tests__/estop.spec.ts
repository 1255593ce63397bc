import { describe, expect, it } from "vitest"

import { promises, sortReport, summary, type StopOrderReport } from "../estop"

const order = (outcome: string, coin = "BTC"): StopOrderReport => ({ order_id: coin, deployment_id: "d", coin, side: "sell", action: "cancel", outcome, detail: null })

const halted = (id: string) => ({ deployment_id: id, name: id, mode: "paper", previous_status: "active", status: "halted", detail: "" })

describe("emergency stop", () => {
  it("says what it will do for the chosen options", () => {
    expect(promises("mine", false, 2).join(" ")).toContain("your 2 running deployments")
    expect(promises("mine", false, 1).join(" ")).toContain("Keep the coins held")
    expect(promises("mine", true, 1).join(" ")).toContain("Sell every coin")
    expect(promises("everyone", true, 1)[0]).toContain("every user's")
  })

  it("puts what could not be confirmed first and counts outcomes", () => {
    const orders = [order("confirmed", "A"), order("failed", "B"), order("unconfirmed", "C"), order("confirmed", "D")]
    expect(sortReport(orders).map((o) => o.coin)).toEqual(["C", "B", "A", "D"])
    expect(summary({ orders, halted: [halted("d1"), halted("d2")], summary: "", complete: false })).toEqual({ confirmed: 2, failed: 1, unconfirmed: 1, halted: 2 })
  })
})
