import { describe, expect, it } from "vitest"

import { headroomOf } from "../limits"

const figures = { exposure: "600.00", equity: "950.00", total_pnl: "-50", deployment: { capital: "1000.00" } }

describe("limit headroom", () => {
  it("shows the room left under each limit that is set", () => {
    const rows = headroomOf({ max_position_aud: "800.00", max_position_fraction: "1", daily_loss_aud: "100.00", max_drawdown_fraction: "0.5", max_orders_per_hour: 60 }, figures, "-30.00")
    expect(rows.map((r) => [r.label, r.text])).toEqual([
      ["Position", "$200.00 of $800.00 left"],
      ["Exposure", "$400.00 of $1,000.00 left"],
      ["Daily loss", "$70.00 of $100.00 left"],
      ["Drawdown", "45.00% of 50.00% left"],
    ])
    expect(rows[0]!.fraction).toBeCloseTo(0.25)
  })

  it("says reached instead of a negative room, and skips unset limits", () => {
    const rows = headroomOf({ max_position_aud: "500", daily_loss_aud: null }, figures, "10")
    expect(rows).toEqual([{ label: "Position", text: "reached", fraction: 0 }])
    expect(headroomOf({}, figures)).toEqual([])
  })
})
