"""Tables of collected prices and of collection runs."""

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Numeric,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# 14 integer digits hold BTC at any price we will see; 16 decimals keep 8+ significant digits
# of coins quoted at fractions of a cent (e.g. 0.0000123456789 AUD).
PRICE = Numeric(30, 16)
# What PRICE can hold: below the smallest it would store zero, from the largest up it
# overflows (and a failed insert would cost the whole run or import).
MIN_PRICE = Decimal("1e-16")
MAX_PRICE = Decimal(10**14)


def utcnow() -> datetime:
    return datetime.now(UTC)


class PriceSource(StrEnum):
    COLLECTOR = "collector"
    IMPORT = "import"
    SYNTHETIC = "synthetic"


class PriceData5Min(SQLModel, table=True):
    """One coin's bid/ask/last at one 5-minute slot (UTC)."""

    __tablename__ = "price_data_5min"
    __table_args__ = (
        # Serves every read by coin and time range; reads by time across coins go through
        # the rollup's bucket index, so inserts maintain one index fewer.
        UniqueConstraint("coin_type", "timestamp", name="uq_price_data_5min_coin_timestamp"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), Identity(always=False), primary_key=True)
    )
    timestamp: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    coin_type: str = Field(max_length=16)
    bid: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    ask: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    last: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    # Where the row came from: collected live, imported from a file, or synthetic demo data.
    source: str = Field(default=PriceSource.COLLECTOR.value, max_length=16)


class PriceRollup1h(SQLModel, table=True):
    """OHLC of `last`, closing bid/ask and bar count of one coin's rows in one UTC hour,
    maintained from `price_data_5min` (see app.collector.rollup)."""

    __tablename__ = "price_rollup_1h"
    __table_args__ = (Index("ix_price_rollup_1h_bucket", "bucket"),)

    coin_type: str = Field(max_length=16, primary_key=True)
    bucket: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    open: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    high: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    low: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    close: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    bid: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    ask: Decimal = Field(sa_column=Column(PRICE, nullable=False))
    bars: int
    first_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # Stamped from price_rollup_1h_version_seq by a row trigger on every insert and update
    # (migration h18): the Lab's price cache compares it per coin and day.
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CollectionRun(SQLModel, table=True):
    """One collection attempt for one slot, whatever its outcome."""

    __tablename__ = "collection_runs"
    __table_args__ = (Index("ix_collection_runs_started_at", "started_at"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), Identity(always=False), primary_key=True)
    )
    slot: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    status: str = Field(default=RunStatus.RUNNING.value, max_length=16)
    trigger: str = Field(default="schedule", max_length=16)
    node: str = Field(max_length=64)
    attempts: int = 0
    coins_received: int = 0
    rows_stored: int = 0
    rows_rejected: int = 0
    rejected: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(), nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    duration_ms: int | None = None
