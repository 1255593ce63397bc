"""The simulator's market: coins, random walk, replay, clock, corruptions, admin API."""

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.exchange.simulator import (
    PriceSnapshot,
    RunningSimulator,
    SimulatorAdminError,
    SimulatorConfig,
    run_simulator,
)
from app.exchange.simulator.engine import Engine
from app.exchange.simulator.faults import Faults
from tests.exchange.conftest import ClientFactory

pytestmark = pytest.mark.anyio


def _walk(seed: int, ticks: int) -> dict[str, Decimal]:
    engine = Engine(SimulatorConfig(seed=seed), Faults())
    engine.tick(ticks)
    return {coin: quote.last for coin, quote in engine.market.quotes().items()}


def test_random_walk_is_reproducible_from_its_seed() -> None:
    assert _walk(7, 50) == _walk(7, 50)
    assert _walk(7, 50) != _walk(8, 50)


async def test_default_universe(simulator: RunningSimulator) -> None:
    prices = simulator.admin.prices()
    assert len(prices) >= 20
    assert {"BTC", "ETH", "XRP", "SOL", "DOGE", "SHIB"} <= set(prices)
    assert min(q["ask"] for q in prices.values()) < Decimal("0.0001")


async def test_ticks_move_prices_and_keep_a_sane_spread(simulator: RunningSimulator) -> None:
    before = simulator.admin.prices()
    assert simulator.admin.tick(20) == 20
    after = simulator.admin.prices()
    moved = [coin for coin in before if before[coin]["last"] != after[coin]["last"]]
    assert len(moved) >= len(before) - 2  # stablecoins may sit still
    for coin, quote in after.items():
        assert 0 < quote["bid"] < quote["ask"], coin
        assert quote["bid"] <= quote["last"] <= quote["ask"], coin
        assert (quote["ask"] - quote["bid"]) / quote["ask"] < Decimal("0.05"), coin
        assert quote["ask"] == quote["ask"].quantize(Decimal("1e-8")), coin  # <= 8 decimals


async def test_500_extra_coins_appear_in_latest(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    added = simulator.admin.add_coins(500)
    assert len(added) == 500 and len(set(added)) == 500
    simulator.admin.add_coin("OMC", "0.000123", volatility=0.01, spread="0.02")
    async with make_client() as client:
        latest = await client.latest_prices()
    assert set(added) | {"OMC"} <= set(latest.prices)
    assert len(latest.prices) >= 525
    assert latest.rejected == {}
    with pytest.raises(SimulatorAdminError) as duplicate:
        simulator.admin.add_coin("OMC", "1")
    assert duplicate.value.status_code == 409


@pytest.mark.parametrize(
    ("mode", "reason_part"),
    [
        ("negative", "negative"),
        ("nan", "finite"),
        ("garbage", "decimal"),
        ("null", "decimal"),
        ("missing_field", "ask"),
    ],
)
async def test_one_corrupt_coin_does_not_hide_the_others(
    simulator: RunningSimulator, make_client: ClientFactory, mode: str, reason_part: str
) -> None:
    simulator.admin.corrupt_latest("ETH", mode)  # type: ignore[arg-type]
    async with make_client() as client:
        latest = await client.latest_prices()
    assert "ETH" not in latest.prices
    assert list(latest.rejected) == ["eth"]
    assert reason_part in latest.rejected["eth"].lower()
    assert "BTC" in latest.prices and len(latest.prices) >= 19


async def test_missing_and_zero_prices(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.corrupt_latest("XRP", "missing")
    simulator.admin.corrupt_latest("DOGE", "zero")
    async with make_client() as client:
        latest = await client.latest_prices()
        simulator.admin.restore_latest("XRP")
        restored = await client.latest_prices()
        simulator.admin.restore_latest()
        clean = await client.latest_prices()
    assert "XRP" not in latest.prices and "xrp" not in latest.rejected
    assert latest.prices["DOGE"].bid == 0
    assert "XRP" in restored.prices and restored.prices["DOGE"].bid == 0
    assert clean.prices["DOGE"].bid > 0


def test_replay_from_csv_steps_through_history(tmp_path: Path) -> None:
    csv_path = tmp_path / "history.csv"
    csv_path.write_text(
        "timestamp,coin,bid,ask,last\n"
        "2024-01-01T00:00:00Z,BTC,100,101,100.5\n"
        "2024-01-01T00:00:00Z,SHIB,0.00001,0.00002,0.000015\n"
        "2024-01-01T00:05:00Z,BTC,110,111,110.5\n"
        "2024-01-01T00:10:00Z,BTC,120,121,120.5\n"
        "2024-01-01T00:10:00Z,SHIB,0.00003,0.00004,0.000035\n"
    )
    with run_simulator(SimulatorConfig(replay_csv=csv_path)) as sim:
        first = sim.admin.prices()
        sim.admin.tick()
        second = sim.admin.prices()
        sim.admin.tick(5)
        held = sim.admin.prices()
        latest = httpx.get(sim.base_url + "/pubapi/v2/latest").json()["prices"]
    assert set(first) == {"BTC", "SHIB"}
    assert first["BTC"]["last"] == Decimal("100.5")
    assert second["BTC"]["last"] == Decimal("110.5")
    assert second["SHIB"]["last"] == Decimal("0.000015")  # not in that step: unchanged
    assert held["BTC"]["last"] == Decimal("120.5")  # held at the end
    assert latest["shib"] == {"bid": "0.00003", "ask": "0.00004", "last": "0.000035"}


def test_replay_can_loop() -> None:
    snapshots = [
        PriceSnapshot(prices={"ETH": {"bid": "1", "ask": "2", "last": "1.5"}}),
        PriceSnapshot(prices={"ETH": {"bid": "3", "ask": "4", "last": "3.5"}}),
    ]
    engine = Engine(SimulatorConfig(replay=snapshots, replay_loop=True), Faults())
    seen = []
    for _ in range(4):
        seen.append(engine.market.quote("ETH").last)  # type: ignore[union-attr]
        engine.tick()
    assert seen == [Decimal("1.5"), Decimal("3.5"), Decimal("1.5"), Decimal("3.5")]


def test_replay_options_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,coin,price\n")
    with pytest.raises(ValueError, match="lacks columns"):
        Engine(SimulatorConfig(replay_csv=bad), Faults())
    with pytest.raises(ValueError):
        SimulatorConfig(replay=[], replay_csv=bad)
    with pytest.raises(ValueError):
        Engine(SimulatorConfig(replay=[]), Faults())


async def test_clock_mode_ticks_on_its_own(simulator: RunningSimulator) -> None:
    simulator.admin.configure(tick_mode="clock", tick_seconds=0.05)
    start = simulator.admin.prices()
    deadline = time.monotonic() + 5
    while simulator.admin.prices() == start:
        assert time.monotonic() < deadline, "prices never moved in clock mode"
        httpx.get(simulator.base_url + "/pubapi/v2/latest/BTC")  # requests drive the clock
        time.sleep(0.06)
    assert simulator.admin.stats()["ticks"] > 0


async def test_admin_rejects_bad_input_with_4xx(simulator: RunningSimulator) -> None:
    admin = simulator.admin
    account = admin.create_account(api_key="fixed-key", api_secret="fixed-secret")
    cases: list[tuple[Callable[[], object], int]] = [
        (lambda: admin.set_price("NOPE", bid="1"), 404),
        (lambda: admin.set_price("BTC", bid="10", ask="5"), 422),
        (lambda: admin.fund("no-such-account", "AUD", "1"), 404),
        (lambda: admin.fund(account.api_key, "AUD", "-5"), 422),
        (lambda: admin.fund(account.api_key, "NOPE", "5"), 404),
        (lambda: admin.create_account(api_key="fixed-key"), 409),
        (lambda: admin.add_fault("latency"), 422),
        (lambda: admin.configure(seed=3), 422),
        (lambda: admin.configure(rate_limit=0), 422),
        (lambda: admin.reset(rate_limit="lots"), 422),
        (lambda: admin.corrupt_latest("NOPE", "nan"), 404),
        (lambda: admin.account("no-such-account"), 404),
    ]
    for call, status in cases:
        with pytest.raises(SimulatorAdminError) as caught:
            call()
        assert caught.value.status_code == status, caught.value.detail


async def test_admin_observation_endpoints(simulator: RunningSimulator) -> None:
    admin = simulator.admin
    assert admin.health()
    fault_id = admin.fail_next(2, path="/pubapi/v2/latest")
    assert [f["id"] for f in admin.faults()] == [fault_id]
    admin.clear_faults()
    assert admin.faults() == []
    httpx.get(simulator.base_url + "/pubapi/v2/latest")
    stats = admin.stats()
    assert stats["requests"] == 1 and stats["by_outcome"] == {"ok": 1}
    admin.clear_requests()
    assert admin.requests() == []
    assert admin.config()["rate_limit"] == 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runs_as_a_module_from_the_command_line() -> None:
    port = _free_port()
    backend = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.exchange.simulator",
            "--port",
            str(port),
            "--tick-mode",
            "manual",
            "--account",
            "cli-key:cli-secret",
            "--fund",
            "AUD=2500",
            "--extra-coins",
            "3",
            "--log-level",
            "warning",
        ],
        cwd=backend,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                account = httpx.get(f"http://127.0.0.1:{port}/_admin/accounts/cli-key").json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        latest = httpx.get(f"http://127.0.0.1:{port}/pubapi/v2/latest").json()["prices"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert account["balances"] == {"AUD": "2500"}
    assert {"sim0001", "sim0003", "btc"} <= set(latest)
