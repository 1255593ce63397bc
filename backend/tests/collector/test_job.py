"""Collection runs against the simulator over HTTP: storage, idempotence, retries, rejects."""

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from app.collector.job import collect_once
from app.collector.models import CollectionRun
from app.collector.validation import check_prices
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.models import LatestPrices
from app.exchange.simulator import RunningSimulator

from .conftest import price_rows

pytestmark = pytest.mark.anyio

SLOT = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
LATEST = "/pubapi/v2/latest"


async def run(client: CoinspotClient, slot: datetime = SLOT, attempts: int = 3) -> object:
    return await collect_once(
        client,
        node="test",
        trigger="test",
        interval_seconds=300,
        attempts=attempts,
        delay_seconds=0.01,
        slot=slot,
    )


def runs() -> list[CollectionRun]:
    with Session(engine) as session:
        return list(session.exec(select(CollectionRun).order_by(CollectionRun.id)))  # type: ignore[arg-type]


async def test_a_run_stores_one_row_per_coin_and_a_rerun_stores_nothing(
    simulator: RunningSimulator, sim_client: CoinspotClient
) -> None:
    coins = set(simulator.admin.prices())
    summary = await run(sim_client)
    assert summary.status == "succeeded"  # type: ignore[attr-defined]
    with Session(engine) as session:
        rows = price_rows(session)
    assert {r.coin_type for r in rows} == coins
    assert len(rows) == len(coins)
    assert all(r.timestamp == SLOT and r.source == "collector" for r in rows)
    sim_prices = simulator.admin.prices()
    btc = next(r for r in rows if r.coin_type == "BTC")
    assert btc.bid == sim_prices["BTC"]["bid"] and btc.ask >= btc.bid
    shib = next(r for r in rows if r.coin_type == "SHIB")
    assert shib.last == sim_prices["SHIB"]["last"]  # sub-cent prices keep every digit

    again = await run(sim_client)
    assert again.rows_stored == 0  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert len(price_rows(session)) == len(coins)
    recorded = runs()
    assert [r.status for r in recorded] == ["succeeded", "succeeded"]
    assert recorded[0].rows_stored == len(coins) and recorded[0].coins_received == len(coins)
    assert recorded[0].finished_at is not None and recorded[0].duration_ms is not None


async def test_two_failures_then_success_stores_the_slot(
    simulator: RunningSimulator, sim_client: CoinspotClient
) -> None:
    simulator.admin.fail_next(2, path=LATEST)
    summary = await run(sim_client)
    assert summary.status == "succeeded"  # type: ignore[attr-defined]
    assert summary.attempts == 3  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert len(price_rows(session)) == len(simulator.admin.prices())


async def test_three_failures_record_a_failed_run_store_nothing_and_the_next_run_works(
    simulator: RunningSimulator, sim_client: CoinspotClient
) -> None:
    simulator.admin.fail_next(3, path=LATEST)
    failed = await run(sim_client)
    assert failed.status == "failed"  # type: ignore[attr-defined]
    assert "3 attempts failed" in (failed.error or "")  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert price_rows(session) == []
    (recorded,) = runs()
    assert recorded.status == "failed" and recorded.attempts == 3 and recorded.rows_stored == 0
    assert recorded.error and "503" in recorded.error

    ok = await run(sim_client)
    assert ok.status == "succeeded"  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert len(price_rows(session)) == len(simulator.admin.prices())


@pytest.mark.parametrize("mode", ["negative", "missing_field", "nan", "zero", "garbage"])
async def test_a_broken_coin_is_rejected_and_the_others_are_stored(
    simulator: RunningSimulator, sim_client: CoinspotClient, mode: str
) -> None:
    coins = set(simulator.admin.prices())
    simulator.admin.corrupt_latest("ETH", mode)  # type: ignore[arg-type]
    summary = await run(sim_client)
    assert summary.status == "succeeded"  # type: ignore[attr-defined]
    assert set(summary.rejected) == {"ETH"}  # type: ignore[attr-defined]
    with Session(engine) as session:
        stored = {r.coin_type for r in price_rows(session)}
    assert stored == coins - {"ETH"}
    (recorded,) = runs()
    assert recorded.rows_rejected == 1 and recorded.rejected and "ETH" in recorded.rejected


async def test_a_missing_coin_just_is_not_stored(
    simulator: RunningSimulator, sim_client: CoinspotClient
) -> None:
    coins = set(simulator.admin.prices())
    simulator.admin.corrupt_latest("XRP", "missing")
    summary = await run(sim_client)
    assert summary.rows_stored == len(coins) - 1  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert "XRP" not in {r.coin_type for r in price_rows(session)}


def test_validation_rejects_crossed_zero_and_reports_client_rejects() -> None:
    latest = LatestPrices.model_validate(
        {
            "prices": {
                "LTC": {"bid": "161", "ask": "160", "last": "160.5"},
                "BTC": {"bid": "100", "ask": "101", "last": "100.5"},
                "ZERO": {"bid": "0", "ask": "1", "last": "0.5"},
                "HUGE": {"bid": "100000000000000", "ask": "100000000000001", "last": "1e14"},
                "DUST": {"bid": "1e-17", "ask": "2e-17", "last": "1e-17"},
            },
            "rejected": {"eth": "bid: Input should be greater than or equal to 0"},
        }
    )
    rows, rejected = check_prices(latest)
    assert [r.coin for r in rows] == ["BTC"]
    assert set(rejected) == {"LTC", "ZERO", "ETH", "HUGE", "DUST"}
    assert "below bid" in rejected["LTC"] and "positive" in rejected["ZERO"]
    assert "outside what is stored" in rejected["HUGE"] and "outside" in rejected["DUST"]
