"""P&L through the booking path and the API: hand-computed FIFO figures, sums that agree
from coin to account, equity snapshots and history, CSV exports, privacy and bad input."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from app.floor.executor import ensure_positions
from app.floor.ledger import Order, TradeSource
from app.floor.models import DeployedAlgorithm
from app.floor.orders import FillRecord, book_fills
from app.floor.pnl.service import snapshot
from app.lab.templates import get_template
from tests.floor.factories import make_deployment, make_release, seed_prices
from tests.utils import create_random_user, user_token_headers

PNL = f"{settings.API_V1_STR}/floor/pnl"
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
T0 = T0.replace(minute=T0.minute - T0.minute % 5)


def book(
    db: Session,
    deployment: DeployedAlgorithm,
    coin: str,
    side: str,
    qty: str,
    price: str,
    fee: str,
    minute: int,
) -> None:
    order = Order(
        deployment_id=deployment.id,
        user_id=deployment.user_id,
        mode=deployment.mode,
        coin=coin,
        side=side,
        style="instant",
        requested_quantity=D(qty),
        requested_notional=D(qty) * D(price),
        target=D(1) if side == "buy" else D(0),
        status="submitting",
        reason="test",
    )
    db.add(order)
    db.flush()
    fill = FillRecord(
        quantity=D(qty),
        price=D(price),
        fee=D(fee),
        notional=D(qty) * D(price),
        exchange_time=T0 + timedelta(minutes=minute),
        source=TradeSource.PAPER,
        gst=D(fee) / 11,
    )
    book_fills(db, order, [fill], None)
    order.status = "filled"
    db.add(order)
    db.commit()


@pytest.fixture(scope="module")
def account(client: TestClient, db: Session) -> dict[str, Any]:
    from app.users.models import User

    email, password = create_random_user(db)
    user = db.query(User).filter(User.email == email).one()  # type: ignore[arg-type]
    template = get_template("ma_crossover")
    assert template is not None
    release = make_release(db, user, template.source)
    a = make_deployment(db, release, capital="10000", coins=("PNLX", "PNLY"))
    b = make_deployment(db, release, capital="5000", coins=("PNLX",))
    for dep in (a, b):
        ensure_positions(engine, dep)
    # Deployment a: two PNLX lots, then a sell of 1.5 (all of lot 1, half of lot 2).
    book(db, a, "PNLX", "buy", "1", "100", "1.10", 0)
    book(db, a, "PNLX", "buy", "1", "110", "1.10", 5)
    book(db, a, "PNLX", "sell", "1.5", "120", "1.65", 10)
    book(db, a, "PNLY", "buy", "10", "2", "0.22", 15)
    # Deployment b buys the same coin on the same account.
    book(db, b, "PNLX", "buy", "2", "115", "2.20", 20)
    seed_prices(db, "PNLX", T0 + timedelta(minutes=30), 3, bid="105", ask="106")
    seed_prices(db, "PNLY", T0 + timedelta(minutes=30), 3, bid="3", ask="3.1")
    return {
        "headers": user_token_headers(client, email, password),
        "a": str(a.id),
        "b": str(b.id),
        "algorithm": str(release.algorithm_id),
    }


def test_summary_matches_the_hand_computed_fifo_figures(
    client: TestClient, account: dict[str, Any]
) -> None:
    headers = account["headers"]
    r = client.get(f"{PNL}/summary", headers=headers)
    assert r.status_code == 200, r.text
    figures = r.json()["account"]
    # Realised (a, PNLX): lot 1: 1*(120-100) = 20; half of lot 2: 0.5*(120-110) = 5.
    assert D(figures["realised_gross"]) == D("25.00")
    # Fees of closed parts: lot 1's 1.10, half of lot 2's 0.55, the whole sell fee 1.65.
    assert D(figures["realised_fees"]) == D("3.30")
    assert D(figures["realised_pnl"]) == D("21.70")
    # Open: a PNLX 0.5 @110 (fee 0.55), a PNLY 10 @2 (0.22), b PNLX 2 @115 (2.20); bids 105, 3.
    unrealised_gross = D("0.5") * (105 - 110) + 10 * (3 - 2) + 2 * (105 - 115)
    assert D(figures["unrealised_gross"]) == unrealised_gross
    assert D(figures["fees_open"]) == D("2.97")
    assert D(figures["unrealised_pnl"]) == unrealised_gross - D("2.97")
    assert D(figures["exposure"]) == D("0.5") * 105 + 10 * 3 + 2 * 105
    assert D(figures["capital"]) == D("15000.00")
    # GST is shown apart: fee / 11 of every fill in closed lots.
    assert D(figures["gst"]) == (D("3.30") / 11).quantize(D("0.01"))
    # Equity = capital + realised + unrealised, fees included, to the cent.
    assert D(figures["equity"]) == D("15000") + D(figures["total_pnl"])


def test_coins_deployments_algorithms_and_account_agree_to_the_cent(
    client: TestClient, account: dict[str, Any]
) -> None:
    headers = account["headers"]
    total = client.get(f"{PNL}/summary", headers=headers).json()["account"]
    for view in ("by-coin", "by-deployment", "by-algorithm"):
        groups = client.get(f"{PNL}/{view}", headers=headers).json()["data"]
        for field in ("realised_pnl", "unrealised_gross", "realised_fees", "exposure"):
            assert sum(D(g[field]) for g in groups) == D(total[field]), (view, field)
    by_coin = {g["key"]: g for g in client.get(f"{PNL}/by-coin", headers=headers).json()["data"]}
    assert set(by_coin) == {"PNLX", "PNLY"}
    assert D(by_coin["PNLY"]["realised_pnl"]) == 0
    by_dep = {
        g["key"]: g for g in client.get(f"{PNL}/by-deployment", headers=headers).json()["data"]
    }
    assert D(by_dep[account["b"]]["unrealised_gross"]) == D("-20.00")
    algo = client.get(f"{PNL}/by-algorithm", headers=headers).json()["data"]
    assert [g["key"] for g in algo] == [account["algorithm"]]


def test_periods_history_and_exports(
    client: TestClient, db: Session, account: dict[str, Any]
) -> None:
    headers = account["headers"]
    before = {
        "period": "custom",
        "start": (T0 - timedelta(days=2)).isoformat(),
        "end": (T0 - timedelta(days=1)).isoformat(),
    }
    empty = client.get(f"{PNL}/summary", headers=headers, params=before).json()
    assert D(empty["account"]["realised_pnl"]) == 0
    week = client.get(f"{PNL}/summary", headers=headers, params={"period": "7d"}).json()
    assert D(week["account"]["realised_pnl"]) == D("21.70")

    now = datetime.now(UTC)
    bar = now.replace(second=0, microsecond=0, minute=now.minute - now.minute % 5)
    bar += timedelta(minutes=5)  # the next bar close, after both deployments started
    assert snapshot(db, bar) >= 2
    snapshot(db, bar)  # the same bar twice is still one row per deployment
    db.commit()
    hist = client.get(
        f"{PNL}/history",
        headers=headers,
        params={"deployment_id": account["b"], "interval": "5m"},
    ).json()
    assert len(hist["data"]) == 1
    point = hist["data"][0]
    # b: cash 5000 - (230 + 2.20) = 4767.80; 2 PNLX at the bid 105 = 210.
    assert D(point["cash"]) == D("4767.80") and D(point["holdings"]) == D("210.00")
    assert D(point["equity"]) == D("4977.80") and point["drawdown"] == 0.0
    whole = client.get(f"{PNL}/history", headers=headers, params={"interval": "1d"}).json()
    assert len(whole["data"]) == 1

    lots = client.get(f"{PNL}/export", headers=headers, params={"kind": "lots"})
    assert lots.status_code == 200 and lots.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(lots.text)))
    assert len(rows) == 2
    assert sum(D(r["net_pnl_aud"]) for r in rows) == D("21.70")
    assert {D(r["quantity"]) for r in rows} == {D("1"), D("0.5")}
    fills = client.get(f"{PNL}/export", headers=headers, params={"kind": "fills"})
    fill_rows = list(csv.DictReader(io.StringIO(fills.text)))
    assert len(fill_rows) == 5 and {r["side"] for r in fill_rows} == {"buy", "sell"}


def test_bad_input_and_other_users(
    client: TestClient, db: Session, account: dict[str, Any]
) -> None:
    headers = account["headers"]
    for params, field in (
        ({"period": "custom"}, "period"),
        ({"period": "fortnight"}, "period"),
        (
            {"period": "custom", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "period",
        ),
        ({"start": "yesterday"}, "start"),
    ):
        r = client.get(f"{PNL}/summary", headers=headers, params=params)
        assert r.status_code == 422 and field in str(r.json()["detail"]), params
    assert (
        client.get(f"{PNL}/history", headers=headers, params={"interval": "2m"}).status_code == 422
    )
    assert client.get(f"{PNL}/export", headers=headers, params={"kind": "taxes"}).status_code == 422
    email, password = create_random_user(db)
    stranger = user_token_headers(client, email, password)
    mine = client.get(f"{PNL}/summary", headers=stranger).json()["account"]
    assert D(mine["realised_pnl"]) == 0 and D(mine["exposure"]) == 0
    assert (
        client.get(
            f"{PNL}/history", headers=stranger, params={"deployment_id": account["a"]}
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"{PNL}/history", headers=stranger, params={"deployment_id": str(uuid.uuid4())}
        ).status_code
        == 404
    )
    export = client.get(f"{PNL}/export", headers=stranger, params={"kind": "fills"})
    assert len(export.text.strip().splitlines()) == 1  # the header only


def test_running_totals_equal_the_closed_lots_and_periods_agree(
    client: TestClient, db: Session, account: dict[str, Any]
) -> None:
    import sqlalchemy as sa

    rows = db.execute(
        sa.text(
            "SELECT t.gross, t.fees, t.net, t.lots, s.gross, s.fees, s.net, s.lots"
            " FROM pnl_totals t JOIN (SELECT deployment_id, coin, sum(gross) AS gross,"
            " sum(fees) AS fees, sum(net) AS net, count(*) AS lots FROM pnl_closed_lots"
            " GROUP BY deployment_id, coin) s USING (deployment_id, coin)"
            " WHERE t.deployment_id = :a"
        ),
        {"a": account["a"]},
    ).all()
    assert len(rows) == 1
    assert tuple(rows[0][:4]) == tuple(rows[0][4:])
    everything = {
        "period": "custom",
        "start": (T0 - timedelta(days=1)).isoformat(),
        "end": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
    }
    lots_view = client.get(f"{PNL}/summary", headers=account["headers"], params=everything)
    totals_view = client.get(f"{PNL}/summary", headers=account["headers"])
    assert lots_view.json()["account"] == totals_view.json()["account"]
