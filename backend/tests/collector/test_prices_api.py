"""The prices API: latest, coins, history (raw and resampled, paginated) and the collector."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.collector.bulk import store_frames
from app.core.config import settings
from app.exchange.simulator import RunningSimulator
from tests.utils import error_text

START = datetime(2026, 1, 1, tzinfo=UTC)
API = settings.API_V1_STR


def frame(
    coin: str,
    bars: int,
    *,
    start: datetime = START,
    price: float = 100.0,
    seed: int = 0,
    skip: tuple[int, ...] = (),
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    last = price * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
    index = pd.date_range(start, periods=bars, freq="5min", tz=UTC)
    data = pd.DataFrame(
        {
            "timestamp": index,
            "coin_type": coin,
            "bid": last * 0.999,
            "ask": last * 1.001,
            "last": last,
            "source": "import",
        }
    )
    return data.drop(index=list(skip)).reset_index(drop=True)


def history(client: TestClient, headers: dict[str, str], coin: str, **params: Any) -> Any:
    response = client.get(f"{API}/prices/{coin}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def all_pages(
    client: TestClient, headers: dict[str, str], coin: str, **params: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10_000):
        page = history(client, headers, coin, **params, **({"cursor": cursor} if cursor else {}))
        rows.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("pagination did not end")


def pandas_bars(indexed: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The resampling the API promises, computed by pandas: OHLC of last, closing bid/ask and
    bar count per bucket starting at multiples of the interval since the epoch."""
    grouped = indexed.resample(rule, origin="epoch", label="left", closed="left")
    return pd.DataFrame(
        {
            "open": grouped["last"].first(),
            "high": grouped["last"].max(),
            "low": grouped["last"].min(),
            "close": grouped["last"].last(),
            "bid": grouped["bid"].last(),
            "ask": grouped["ask"].last(),
            "bars": grouped["last"].count(),
        }
    ).dropna()


def assert_bars_match(rows: list[dict[str, Any]], expected: pd.DataFrame) -> None:
    assert [datetime.fromisoformat(r["timestamp"]) for r in rows] == list(expected.index)
    for field in ("open", "high", "low", "close", "bid", "ask"):
        assert [float(r[field]) for r in rows] == pytest.approx(list(expected[field]), rel=1e-12), (
            field
        )
    assert [r["bars"] for r in rows] == list(expected["bars"])


def test_latest_gives_each_coins_newest_price_and_its_24h_change(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    btc = frame("BTC", 400, price=150_000.0, seed=1)
    shib = frame("SHIB", 100, price=0.00002134, seed=2)
    store_frames([btc, shib])
    response = client.get(f"{API}/prices/latest", headers=normal_user_token_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    by_coin = {row["coin"]: row for row in body["data"]}
    newest = btc.iloc[-1]
    day_before = btc[btc["timestamp"] <= newest["timestamp"] - timedelta(hours=24)].iloc[-1]
    assert Decimal(by_coin["BTC"]["last"]) == pytest.approx(
        Decimal(str(newest["last"])), rel=Decimal("1e-12")
    )
    assert by_coin["BTC"]["timestamp"].startswith(newest["timestamp"].isoformat()[:19])
    expected = (newest["last"] - day_before["last"]) / day_before["last"] * 100
    assert by_coin["BTC"]["change_24h_pct"] == pytest.approx(expected, abs=1e-4)
    # SHIB has less than a day of history: no change to report, and its price keeps its digits.
    assert by_coin["SHIB"]["change_24h_pct"] is None
    assert Decimal(by_coin["SHIB"]["last"]) == pytest.approx(
        Decimal(str(shib.iloc[-1]["last"])), rel=Decimal("1e-9")
    )


def test_coins_lists_coverage(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    store_frames([frame("BTC", 50), frame("ETH", 20, start=START + timedelta(hours=1))])
    body = client.get(f"{API}/prices/coins", headers=normal_user_token_headers).json()
    assert body["count"] == 2
    eth = next(c for c in body["data"] if c["coin"] == "ETH")
    assert eth["rows"] == 20
    assert datetime.fromisoformat(eth["first"]) == START + timedelta(hours=1)
    assert datetime.fromisoformat(eth["last"]) == START + timedelta(hours=1, minutes=5 * 19)


def test_raw_history_pages_return_every_row_exactly_once(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    data = frame("BTC", 503, skip=(10, 11, 250))
    store_frames([data, frame("ETH", 503, seed=9)])
    end = START + timedelta(minutes=5 * 502)
    rows = all_pages(
        client,
        normal_user_token_headers,
        "btc",
        start=START.isoformat(),
        end=end.isoformat(),
        limit=37,
    )
    assert [datetime.fromisoformat(r["timestamp"]) for r in rows] == list(data["timestamp"])
    assert [float(r["last"]) for r in rows] == pytest.approx(list(data["last"]), rel=1e-12)
    # Bounds are inclusive and respected.
    window = history(
        client,
        normal_user_token_headers,
        "BTC",
        start=(START + timedelta(minutes=100)).isoformat(),
        end=(START + timedelta(minutes=200)).isoformat(),
        limit=1000,
    )
    assert window["count"] == 21 and window["next_cursor"] is None


@pytest.mark.parametrize(
    ("interval", "rule"), [("15m", "15min"), ("1h", "1h"), ("4h", "4h"), ("1d", "1D")]
)
def test_resampling_matches_pandas_and_pages_cleanly(
    client: TestClient, normal_user_token_headers: dict[str, str], interval: str, rule: str
) -> None:
    data = frame("BTC", 2 * 288 + 77, start=START + timedelta(minutes=35), skip=(3, 4, 5, 300))
    store_frames([data])
    end = START + timedelta(days=4)
    rows = all_pages(
        client,
        normal_user_token_headers,
        "BTC",
        start=START.isoformat(),
        end=end.isoformat(),
        interval=interval,
        limit=3,
    )
    assert_bars_match(rows, pandas_bars(data.set_index("timestamp"), rule))


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "start must not be after end",
        ),
        ({"interval": "7m"}, None),
        ({"cursor": "not-a-cursor!"}, "cursor"),
        ({"start": "2026-01-01T00:00:00"}, "time zone"),
        ({"limit": 0}, None),
    ],
)
def test_bad_history_requests_get_422(
    client: TestClient,
    normal_user_token_headers: dict[str, str],
    params: dict[str, Any],
    detail: str | None,
) -> None:
    store_frames([frame("BTC", 10)])
    response = client.get(f"{API}/prices/BTC", headers=normal_user_token_headers, params=params)
    assert response.status_code == 422, response.text
    if detail:
        assert detail in error_text(response)


def test_unknown_coin_is_404_and_prices_need_a_login(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    store_frames([frame("BTC", 10)])
    response = client.get(f"{API}/prices/NOPE", headers=normal_user_token_headers)
    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]
    for path in ("/prices/latest", "/prices/coins", "/prices/BTC", "/collector/status"):
        assert client.get(f"{API}{path}").status_code == 401


def test_status_reports_runs_and_gaps_and_a_superuser_can_trigger_a_run(
    client: TestClient,
    superuser_token_headers: dict[str, str],
    normal_user_token_headers: dict[str, str],
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    recent = frame("ETH", 60, start=now - timedelta(hours=6), skip=tuple(range(20, 26)))
    store_frames([recent])
    monkeypatch.setattr(settings, "COINSPOT_BASE_URL", simulator.base_url)
    monkeypatch.setattr(settings, "COLLECTOR_RETRY_DELAY_SECONDS", 0.01)

    forbidden = client.post(f"{API}/collector/run", headers=normal_user_token_headers)
    assert forbidden.status_code == 403

    response = client.post(f"{API}/collector/run", headers=superuser_token_headers)
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "succeeded"
    assert run["rows_stored"] == len(simulator.admin.prices())

    status = client.get(f"{API}/collector/status", headers=normal_user_token_headers).json()
    assert status["last_run"]["id"] == run["id"]
    assert status["runs_24h"] == 1 and status["errors_24h"] == 0
    assert status["state"] == "stopped"  # the scheduler is off in tests
    before_hole = recent["timestamp"].iloc[19]
    (gap,) = [
        g
        for g in status["gaps_24h"]
        if g["coin"] == "ETH" and datetime.fromisoformat(g["after"]) == before_hole
    ]
    assert gap["missing"] == 6
    assert status["missing_slots_24h"] >= 6


def test_cursor_pages_do_not_overlap_with_equal_limits(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    store_frames([frame("BTC", 100)])
    pages = []
    cursor = None
    while True:
        page = history(
            client,
            normal_user_token_headers,
            "BTC",
            start=START.isoformat(),
            end=(START + timedelta(days=1)).isoformat(),
            limit=10,
            **({"cursor": cursor} if cursor else {}),
        )
        pages.append([r["timestamp"] for r in page["data"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    flat = list(itertools.chain.from_iterable(pages))
    assert len(flat) == len(set(flat)) == 100
    assert all(len(p) == 10 for p in pages)


def test_columns_layout_carries_the_same_values_as_rows(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    store_frames([frame("BTC", 50)])
    params = {
        "start": START.isoformat(),
        "end": (START + timedelta(days=1)).isoformat(),
        "interval": "15m",
    }
    rows = history(client, normal_user_token_headers, "BTC", **params)
    columns = history(client, normal_user_token_headers, "BTC", **params, layout="columns")
    assert columns["layout"] == "columns" and columns["count"] == rows["count"] == 17
    assert columns["data"]["timestamp"] == [r["timestamp"] for r in rows["data"]]
    assert columns["data"]["close"] == [r["close"] for r in rows["data"]]
    assert rows["data"][0]["timestamp"] == "2026-01-01T00:00:00Z"
