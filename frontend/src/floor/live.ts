/**
 * One WebSocket to `/api/v1/ws` that stays connected and never loses an event.
 *
 * Rules kept here (the server's protocol is in backend app/events/routes.py):
 * - the access token goes in the first message (`{"token", "resume_from"?}`), never in the
 *   URL, so it stays out of proxy and server logs;
 * - the last `seq` seen is kept; every reconnect sends it as `resume_from`, and the server
 *   replays what was missed before live events continue. An event at or below that `seq` is
 *   a repeat and is dropped, so each event is handed on exactly once, in order;
 * - a heartbeat announcing a `seq` we have not seen asks for a resume (a gap is never kept);
 * - a lost connection is retried with exponential back-off and jitter (capped); a refused
 *   token (close 4401) gets one fresh token before the next try, and stops the connection
 *   when there is none (signed out);
 * - `stop()` ends it for good: no timer or socket is left behind.
 */
import { parseMessage, type LiveEvent } from "./events"

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "unauthorised" | "stopped"

/** The part of the browser's WebSocket the connection uses (a fake one in tests). */
export interface SocketLike {
  readonly readyState: number
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number; reason?: string }) => void) | null
  onerror: ((event: unknown) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}
export type SocketFactory = (url: string) => SocketLike

export interface LiveOptions {
  url: string
  /** The current access token (null: signed out). */
  token: () => string | null
  /** A fresh token after the server refused one (a silent refresh); null when there is none. */
  refreshToken?: () => Promise<string | null>
  onEvent: (event: LiveEvent) => void
  onState?: (state: ConnectionState) => void
  /** Called after each (re)connect is accepted, with whether events were replayed. */
  onConnected?: (info: { resumed: boolean; serverSeq: number }) => void
  createSocket?: SocketFactory
  initialDelayMs?: number
  maxDelayMs?: number
  random?: () => number
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (handle: unknown) => void
}

const CLOSE_UNAUTHORISED = 4401
const OPEN = 1

/** `ws(s)://<host>/api/v1/ws` for an API at `base` ("" = this page's origin). */
export function liveUrl(base: string, location: { protocol: string; host: string } = window.location): string {
  const url = new URL("/api/v1/ws", base || `${location.protocol}//${location.host}`)
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  return url.toString()
}

export class LiveConnection {
  state: ConnectionState = "idle"
  /** The newest event handed on (null before the first welcome). */
  lastSeq: number | null = null
  /** Failed attempts since the last accepted connection. */
  attempts = 0

  private socket: SocketLike | null = null
  private timer: unknown = null
  private refreshed = false
  private readonly o: Required<Omit<LiveOptions, "refreshToken" | "onState" | "onConnected">> &
    Pick<LiveOptions, "refreshToken" | "onState" | "onConnected">

  constructor(options: LiveOptions) {
    this.o = {
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      initialDelayMs: 500,
      maxDelayMs: 30_000,
      random: Math.random,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      ...options,
    }
  }

  start(): void {
    if (this.state !== "idle" && this.state !== "stopped" && this.state !== "unauthorised") return
    this.attempts = 0
    this.connect()
  }

  stop(): void {
    this.setState("stopped")
    if (this.timer !== null) this.o.clearTimer(this.timer)
    this.timer = null
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = socket.onmessage = socket.onerror = socket.onopen = null
      socket.close(1000, "bye")
    }
  }

  /** The delay before attempt `n` (1-based): doubling from the initial delay, capped, with jitter. */
  delayFor(n: number): number {
    const base = Math.min(this.o.maxDelayMs, this.o.initialDelayMs * 2 ** Math.max(0, n - 1))
    return Math.round(base / 2 + (base / 2) * this.o.random())
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return
    this.state = state
    this.o.onState?.(state)
  }

  private connect(): void {
    this.timer = null
    const token = this.o.token()
    if (!token) {
      this.setState("unauthorised")
      return
    }
    this.setState(this.attempts === 0 && this.lastSeq === null ? "connecting" : "reconnecting")
    let socket: SocketLike
    try {
      socket = this.o.createSocket(this.o.url)
    } catch {
      this.retry()
      return
    }
    this.socket = socket
    const resumeFrom = this.lastSeq
    socket.onopen = () => {
      socket.send(JSON.stringify(resumeFrom === null ? { token } : { token, resume_from: resumeFrom }))
    }
    socket.onmessage = (message) => {
      if (this.socket !== socket || typeof message.data !== "string") return
      const parsed = parseMessage(message.data)
      if (!parsed) return
      switch (parsed.type) {
        case "welcome":
          this.attempts = 0
          this.refreshed = false
          if (this.lastSeq === null) this.lastSeq = parsed.last_seq
          this.setState("open")
          this.o.onConnected?.({ resumed: resumeFrom !== null, serverSeq: parsed.last_seq })
          break
        case "heartbeat":
          if (this.lastSeq !== null && parsed.last_seq > this.lastSeq) this.send({ resume_from: this.lastSeq })
          break
        case "event":
          if (this.lastSeq !== null && parsed.event.seq <= this.lastSeq) return
          this.lastSeq = parsed.event.seq
          this.o.onEvent(parsed.event)
          break
        default:
          break
      }
    }
    socket.onerror = () => undefined // a close follows; it decides what to do
    socket.onclose = (event) => {
      if (this.socket !== socket) return
      this.socket = null
      if (event.code === CLOSE_UNAUTHORISED) {
        void this.afterRefusal()
        return
      }
      this.retry()
    }
  }

  private async afterRefusal(): Promise<void> {
    if (this.refreshed || !this.o.refreshToken) {
      this.setState("unauthorised")
      return
    }
    this.refreshed = true
    const token = await this.o.refreshToken().catch(() => null)
    if (this.state === "stopped") return
    if (!token) {
      this.setState("unauthorised")
      return
    }
    this.retry()
  }

  private retry(): void {
    if (this.state === "stopped") return
    this.attempts += 1
    this.setState("reconnecting")
    this.timer = this.o.setTimer(() => this.connect(), this.delayFor(this.attempts))
  }

  private send(message: object): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(message))
  }
}
