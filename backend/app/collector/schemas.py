"""Response bodies of the prices and collector API. Prices are decimal strings (exact)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LatestPrice(BaseModel):
    coin: str
    timestamp: datetime
    bid: str
    ask: str
    last: str
    source: str
    change_24h_pct: float | None


class LatestPrices(BaseModel):
    data: list[LatestPrice]
    count: int


class CoinCoverage(BaseModel):
    coin: str
    first: datetime
    last: datetime
    rows: int


class CoinsPublic(BaseModel):
    data: list[CoinCoverage]
    count: int


class PriceBar(BaseModel):
    timestamp: datetime
    bid: float
    ask: float
    last: float


class OhlcBar(BaseModel):
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    bid: float
    ask: float
    bars: int


class PriceHistory(BaseModel):
    coin: str
    interval: str
    layout: str
    start: datetime
    end: datetime
    count: int
    next_cursor: str | None
    # layout=rows: a list of bars; layout=columns: {"timestamp": [...], "bid": [...], ...}
    data: list[PriceBar] | list[OhlcBar] | dict[str, list[float] | list[str] | list[int]]


class CollectorRun(BaseModel):
    id: int
    slot: datetime
    status: str
    trigger: str
    node: str
    attempts: int
    coins_received: int
    rows_stored: int
    rows_rejected: int
    rejected: dict[str, Any] | None = None
    error: str | None = None
    duration_ms: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class GapPublic(BaseModel):
    coin: str
    after: datetime
    before: datetime
    missing: int


class CollectorStatus(BaseModel):
    enabled: bool
    state: str
    role: str
    node: str | None
    interval_seconds: int
    next_run_at: datetime | None
    last_run: CollectorRun | None
    runs_24h: int
    errors_24h: int
    rows_stored_24h: int
    rows_rejected_24h: int
    gaps_24h: list[GapPublic]
    missing_slots_24h: int
