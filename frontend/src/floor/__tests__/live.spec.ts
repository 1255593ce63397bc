import { describe, expect, it } from "vitest"

import { LiveConnection, liveUrl, type SocketLike } from "../live"
import type { LiveEvent } from "../events"

/** A WebSocket stand-in the test drives: it records what the client sent. */
class FakeSocket implements SocketLike {
  readyState = 0
  sent: unknown[] = []
  closedWith: number | null = null
  onopen: ((event: unknown) => void) | null = null
  onmessage: ((event: { data: unknown }) => void) | null = null
  onclose: ((event: { code: number; reason?: string }) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data))
  }
  close(code = 1000): void {
    this.closedWith = code
    this.readyState = 3
  }
  // Server side
  open(): void {
    this.readyState = 1
    this.onopen?.({})
  }
  message(body: object): void {
    this.onmessage?.({ data: JSON.stringify(body) })
  }
  drop(code = 1006): void {
    this.readyState = 3
    this.onclose?.({ code })
  }
}

function event(seq: number, kind = "fill"): object {
  return {
    type: "event",
    seq,
    kind,
    broadcast: false,
    created_at: "2026-12-01T10:00:00Z",
    payload: { fill_id: `f${seq}`, order_id: "o", coin: "BTC", side: "buy", amount: "0.01", price: "100000", fee: "1", filled_at: "2026-12-01T10:00:00Z" },
  }
}

function harness(options: { token?: () => string | null; refresh?: () => Promise<string | null> } = {}) {
  const sockets: FakeSocket[] = []
  const timers: Array<{ fn: () => void; ms: number }> = []
  const received: LiveEvent[] = []
  const states: string[] = []
  const conn = new LiveConnection({
    url: "ws://host/api/v1/ws",
    token: options.token ?? (() => "jwt-1"),
    refreshToken: options.refresh,
    onEvent: (e) => received.push(e),
    onState: (s) => states.push(s),
    createSocket: (url) => {
      const s = new FakeSocket(url)
      sockets.push(s)
      return s
    },
    random: () => 1,
    setTimer: (fn, ms) => {
      timers.push({ fn, ms })
      return timers.length
    },
    clearTimer: () => undefined,
  })
  const fire = () => timers.shift()?.fn()
  return { conn, sockets, timers, received, states, fire }
}

describe("LiveConnection", () => {
  it("authenticates in the first message, not the URL, and starts live from the welcome", () => {
    const h = harness()
    h.conn.start()
    const s = h.sockets[0]!
    expect(s.url).toBe("ws://host/api/v1/ws")
    s.open()
    expect(s.sent).toEqual([{ token: "jwt-1" }])
    s.message({ type: "welcome", last_seq: 41 })
    expect(h.conn.state).toBe("open")
    expect(h.conn.lastSeq).toBe(41)
    s.message(event(42))
    expect(h.received.map((e) => e.seq)).toEqual([42])
    expect(h.received[0]!.kind).toBe("fill")
  })

  it("reconnects with growing delays and resumes from the last sequence without duplicates", () => {
    const h = harness()
    h.conn.start()
    h.sockets[0]!.open()
    h.sockets[0]!.message({ type: "welcome", last_seq: 10 })
    h.sockets[0]!.message(event(11))
    h.sockets[0]!.message(event(12))
    h.sockets[0]!.drop()
    expect(h.conn.state).toBe("reconnecting")
    expect(h.timers.map((t) => t.ms)).toEqual([500])
    h.fire()
    // The second try fails before it opens: the next wait doubles.
    h.sockets[1]!.drop()
    expect(h.timers.map((t) => t.ms)).toEqual([1000])
    h.fire()
    const third = h.sockets[2]!
    third.open()
    expect(third.sent).toEqual([{ token: "jwt-1", resume_from: 12 }])
    third.message({ type: "welcome", last_seq: 15 })
    // The replay repeats 12, then the missed 13..15; 12 is not handed on twice.
    for (const seq of [12, 13, 14, 15]) third.message(event(seq))
    expect(h.received.map((e) => e.seq)).toEqual([11, 12, 13, 14, 15])
    expect(h.conn.attempts).toBe(0)
    // After a success the back-off starts again from the initial delay.
    third.drop()
    expect(h.timers.map((t) => t.ms)).toEqual([500])
  })

  it("caps the back-off", () => {
    const h = harness()
    expect(h.conn.delayFor(1)).toBe(500)
    expect(h.conn.delayFor(4)).toBe(4000)
    expect(h.conn.delayFor(20)).toBe(30_000)
  })

  it("asks for a resume when a heartbeat shows an event it has not seen", () => {
    const h = harness()
    h.conn.start()
    const s = h.sockets[0]!
    s.open()
    s.message({ type: "welcome", last_seq: 5 })
    s.message({ type: "heartbeat", last_seq: 5 })
    expect(s.sent).toHaveLength(1)
    s.message({ type: "heartbeat", last_seq: 7 })
    expect(s.sent[1]).toEqual({ resume_from: 5 })
  })

  it("refreshes a refused token once, then stops when the session is gone", async () => {
    let token = "old"
    let refreshes = 0
    const h = harness({
      token: () => token,
      refresh: async () => {
        refreshes += 1
        if (refreshes > 1) return null
        token = "new"
        return token
      },
    })
    h.conn.start()
    h.sockets[0]!.open()
    h.sockets[0]!.drop(4401)
    await Promise.resolve()
    await Promise.resolve()
    expect(refreshes).toBe(1)
    h.fire()
    h.sockets[1]!.open()
    expect(h.sockets[1]!.sent).toEqual([{ token: "new" }])
    h.sockets[1]!.drop(4401) // refused again without a welcome in between: give up
    await Promise.resolve()
    expect(h.conn.state).toBe("unauthorised")
    expect(h.timers).toHaveLength(0)
  })

  it("does not connect without a token, and stop() leaves nothing running", () => {
    const none = harness({ token: () => null })
    none.conn.start()
    expect(none.sockets).toHaveLength(0)
    expect(none.conn.state).toBe("unauthorised")

    const h = harness()
    h.conn.start()
    h.sockets[0]!.open()
    h.conn.stop()
    expect(h.sockets[0]!.closedWith).toBe(1000)
    expect(h.conn.state).toBe("stopped")
    h.sockets[0]!.drop()
    expect(h.timers).toHaveLength(0)
  })

  it("ignores frames that are not messages it knows", () => {
    const h = harness()
    h.conn.start()
    const s = h.sockets[0]!
    s.open()
    s.message({ type: "welcome", last_seq: 0 })
    s.onmessage?.({ data: "not json" })
    s.message({ type: "event", seq: "x" })
    s.message({ type: "event", seq: 1, kind: "reconciliation.break", broadcast: false, created_at: "", payload: { id: "b" } })
    expect(h.received).toHaveLength(1)
    expect(h.received[0]).toMatchObject({ kind: "other", name: "reconciliation.break" })
  })
})

describe("liveUrl", () => {
  it("uses wss for https pages and the page's host by default", () => {
    expect(liveUrl("", { protocol: "https:", host: "omc.example" })).toBe("wss://omc.example/api/v1/ws")
    expect(liveUrl("http://127.0.0.1:8000", { protocol: "https:", host: "x" })).toBe("ws://127.0.0.1:8000/api/v1/ws")
  })
})
