/**
 * The live events the server sends over `/api/v1/ws` (backend app/events/schemas.py), typed.
 *
 * Rules kept here: money and quantities stay decimal strings; a message or payload of a shape
 * we do not know is kept as an `other` event (so a newer server never breaks the page) or
 * dropped when it is not even an event.
 */

export interface CoinPrice {
  coin: string
  bid: string
  ask: string
  last: string
}
export interface PriceUpdatePayload {
  slot: string
  prices: CoinPrice[]
}
export interface OrderPayload {
  order_id: string
  deployment_id?: string | null
  coin: string
  side: "buy" | "sell"
  status: string
  amount?: string | null
  price?: string | null
  filled_amount?: string | null
  reason?: string | null
}
export interface FillPayload {
  fill_id: string
  order_id: string
  deployment_id?: string | null
  coin: string
  side: "buy" | "sell"
  amount: string
  price: string
  fee: string
  filled_at: string
}
export interface DeploymentStatusPayload {
  deployment_id: string
  status: string
  previous?: string | null
  reason?: string | null
}
export interface PnlPayload {
  deployment_id?: string | null
  realised: string
  unrealised: string
  fees: string
  equity: string
  as_of: string
}
export interface AlertPayload {
  alert_id: string
  kind: string
  key: string
  message: string
  severity: string
  count: number
  read: boolean
}

interface Base {
  seq: number
  broadcast: boolean
  created_at: string
}

export type LiveEvent =
  | (Base & { kind: "price.update"; payload: PriceUpdatePayload })
  | (Base & { kind: `order.${string}`; payload: OrderPayload })
  | (Base & { kind: "fill"; payload: FillPayload })
  | (Base & { kind: "deployment.status"; payload: DeploymentStatusPayload })
  | (Base & { kind: "pnl.update"; payload: PnlPayload })
  | (Base & { kind: "alert"; payload: AlertPayload })
  | (Base & { kind: "other"; name: string; payload: Record<string, unknown> })

export type ServerMessage =
  | { type: "welcome"; last_seq: number }
  | { type: "heartbeat"; last_seq: number }
  | { type: "pong" }
  | { type: "error"; detail: string }
  | { type: "event"; event: LiveEvent }

const KNOWN = new Set(["price.update", "fill", "deployment.status", "pnl.update", "alert"])

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

/** An event as the server (WebSocket or `GET /floor/events`) delivers it, typed by kind. */
export function toLiveEvent(raw: unknown): LiveEvent | null {
  if (!isObject(raw) || typeof raw.seq !== "number" || typeof raw.kind !== "string" || !isObject(raw.payload)) return null
  const base: Base = { seq: raw.seq, broadcast: raw.broadcast === true, created_at: typeof raw.created_at === "string" ? raw.created_at : "" }
  const kind = raw.kind
  if (KNOWN.has(kind) || kind.startsWith("order.")) return { ...base, kind, payload: raw.payload } as LiveEvent
  return { ...base, kind: "other", name: kind, payload: raw.payload }
}

/** One WebSocket text frame, parsed; null for anything that is not a message we know. */
export function parseMessage(text: string): ServerMessage | null {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return null
  }
  if (!isObject(raw)) return null
  switch (raw.type) {
    case "welcome":
    case "heartbeat":
      return typeof raw.last_seq === "number" ? { type: raw.type, last_seq: raw.last_seq } : null
    case "pong":
      return { type: "pong" }
    case "error":
      return { type: "error", detail: String(raw.detail ?? "") }
    case "event": {
      const event = toLiveEvent(raw)
      return event ? { type: "event", event } : null
    }
    default:
      return null
  }
}

/** The kind as the server named it (an `other` event keeps its own name). */
export function kindName(event: LiveEvent): string {
  return event.kind === "other" ? event.name : event.kind
}
