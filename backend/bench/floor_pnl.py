"""How fast the P&L summary answers for a busy account.

    cd backend && uv run python bench/floor_pnl.py [--fills 100000] [--deployments 10] [--repeat 15]
    (or as part of everything: uv run python bench/floor.py --only pnl)

Builds, in a scratch database, one user with `--deployments` paper deployments trading 5 coins
each and `--fills` fills between them (random buys and sells, never selling more than is
held), books their FIFO lots with the Floor's own ledger (`app.floor.pnl.ledger`, the same
rules `book.record_trades` applies as fills arrive; written here by COPY so that set-up takes
seconds), then times `GET /api/v1/floor/pnl/summary` and `/pnl/by-coin` through the app
(in-process HTTP, authenticated). Median of `--repeat` calls after a warm-up; target: the
summary <= 200 ms for 100,000 fills.
"""

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scratchdb  # before anything from app

COINS = ("BTC", "ETH", "SOL", "ADA", "XRP")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--deployments", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    scratchdb.create()
    run(args.fills, args.deployments, args.repeat)


def run(fills: int, deployments: int, repeat: int) -> None:
    """Build the account in the (already created) scratch database and time the routes."""
    args = argparse.Namespace(fills=fills, deployments=deployments, repeat=repeat)

    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from app.core.db import engine
    from app.floor.pnl.ledger import CoinLedger, LedgerFill
    from app.main import app

    started = time.perf_counter()
    rng = np.random.default_rng(7)
    with Session(engine) as session:
        conn = session.connection()
        user_id: uuid.UUID = conn.exec_driver_sql(
            'SELECT id FROM "user" WHERE email = %s', (scratchdb.EMAIL,)
        ).scalar_one()
        algo_id, release_id = uuid.uuid4(), uuid.uuid4()
        conn.exec_driver_sql(
            "INSERT INTO algorithms (id, user_id, name, type, parameters, status, latest_version,"
            " created_at, updated_at) VALUES (%s, %s, 'bench', 'rule', '{}', 'deployed', 1,"
            " now(), now())",
            (algo_id, user_id),
        )
        conn.exec_driver_sql(
            "INSERT INTO releases (id, user_id, algorithm_id, algorithm_version, algorithm_name,"
            " algorithm_type, class_name, code, code_hash, parameters, parameter_schema, costs,"
            " warmup_bars, libraries, evidence, checklist, content_hash, created_at) VALUES"
            " (%s, %s, %s, 1, 'bench', 'rule', 'B', '', '', '{}', '{}', '{}', 1, '{}', '{}',"
            " '[]', %s, now())",
            (release_id, user_id, algo_id, uuid.uuid4().hex * 2),
        )
        deployments = [uuid.uuid4() for _ in range(args.deployments)]
        for i, dep in enumerate(deployments):
            conn.exec_driver_sql(
                "INSERT INTO deployed_algorithms (id, release_id, algorithm_id, user_id, name,"
                " mode, status, capital, coins, allocation, schedule_bars, execution_style,"
                " risk_limits, parameters, acknowledged_real_money, deployed_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, 'paper', 'active', 100000, '[]', '{}', 1,"
                " 'instant', '{}', '{}', false, now(), now())",
                (dep, release_id, algo_id, user_id, f"bench {i}"),
            )
        now = datetime.now(UTC)
        for coin in COINS:
            conn.exec_driver_sql(
                "INSERT INTO price_data_5min (timestamp, coin_type, bid, ask, last, source)"
                " VALUES (%s, %s, 101, 102, 101.5, 'synthetic')",
                (now, coin),
            )
        per_cell = args.fills // (len(deployments) * len(COINS))
        t0 = now - timedelta(days=200)
        closed_rows: list[tuple[object, ...]] = []
        open_rows: list[tuple[object, ...]] = []
        n_fills = 0
        for dep in deployments:
            for coin in COINS:
                ledger = CoinLedger()
                prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, per_cell)))
                for k in range(per_cell):
                    price = Decimal(f"{prices[k]:.8f}")
                    buy = ledger.quantity == 0 or rng.random() < 0.5
                    qty = Decimal(f"{rng.uniform(0.01, 2):.8f}")
                    if not buy:
                        qty = min(qty, ledger.quantity)
                    fee = (qty * price * Decimal("0.01")).quantize(Decimal("0.00000001"))
                    ledger.apply(
                        LedgerFill(
                            t0 + timedelta(minutes=5 * k),
                            "buy" if buy else "sell",
                            qty,
                            price,
                            fee - fee / 11,
                            fee / 11,
                        )
                    )
                    n_fills += 1
                for c in ledger.closed:
                    closed_rows.append(
                        (
                            uuid.uuid4(),
                            user_id,
                            dep,
                            coin,
                            c.opened,
                            c.closed,
                            c.quantity,
                            c.buy_price,
                            c.sell_price,
                            c.buy_fee,
                            c.buy_gst,
                            c.sell_fee,
                            c.sell_gst,
                            c.gross,
                            c.fees,
                            c.net,
                        )
                    )
                for seq, lot in enumerate(ledger.open_lots):
                    open_rows.append(
                        (
                            uuid.uuid4(),
                            user_id,
                            dep,
                            coin,
                            seq,
                            lot.opened,
                            lot.quantity,
                            lot.price,
                            lot.fee,
                            lot.gst,
                        )
                    )
                conn.exec_driver_sql(
                    "INSERT INTO positions (deployment_id, coin, user_id, quantity,"
                    " average_price, cost_basis, cash, updated_at)"
                    " VALUES (%s, %s, %s, %s, 0, 0, %s, now())",
                    (dep, coin, user_id, ledger.quantity, 20000 + ledger.cash_flow),
                )
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            with cur.copy(
                "COPY pnl_closed_lots (id, user_id, deployment_id, coin, opened_at, closed_at,"
                " quantity, buy_price, sell_price, buy_fee, buy_gst, sell_fee, sell_gst, gross,"
                " fees, net) FROM STDIN"
            ) as copy:
                for row in closed_rows:
                    copy.write_row(row)
            with cur.copy(
                "COPY pnl_open_lots (id, user_id, deployment_id, coin, seq, opened_at, quantity,"
                " price, fee, gst) FROM STDIN"
            ) as copy:
                for row in open_rows:
                    copy.write_row(row)
        # The running totals `book.record_trades` keeps as lots close, built here in one go.
        conn.exec_driver_sql(
            "INSERT INTO pnl_totals (deployment_id, coin, user_id, gross, fees, net, gst, lots)"
            " SELECT deployment_id, coin, user_id, sum(gross), sum(fees), sum(net),"
            " sum(buy_gst + sell_gst), count(*) FROM pnl_closed_lots"
            " GROUP BY deployment_id, coin, user_id"
        )
        session.commit()
        conn = session.connection()
        conn.exec_driver_sql("ANALYZE")
    setup_s = time.perf_counter() - started
    print(
        f"set-up: {n_fills:,} fills -> {len(closed_rows):,} closed lots, {len(open_rows):,} open"
        f" lots in {args.deployments} deployments x {len(COINS)} coins ({setup_s:.1f} s)"
    )

    client = TestClient(app)
    token = client.post(
        "/api/v1/login/access-token",
        data={"username": scratchdb.EMAIL, "password": scratchdb.PASSWORD},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for path, params in (
        ("/api/v1/floor/pnl/summary", {}),
        ("/api/v1/floor/pnl/summary", {"period": "30d"}),
        (
            "/api/v1/floor/pnl/summary",
            {"period": "custom", "start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
        ),
        ("/api/v1/floor/pnl/by-coin", {}),
        ("/api/v1/floor/pnl/by-deployment", {}),
    ):
        answer = client.get(path, headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            answer = client.get(path, headers=headers, params=params)
            times.append((time.perf_counter() - began) * 1000)
        label = path.rsplit("/", 1)[-1] + (f"?period={params['period']}" if params else "")
        if params.get("period") == "custom":
            label += " (every lot)"
        print(
            f"GET /pnl/{label:<20} median {statistics.median(times):7.1f} ms"
            f"  (best {min(times):.1f}, worst {max(times):.1f}; {args.repeat} calls)"
        )
    print("target: summary <= 200 ms for an account with 100,000 fills")


if __name__ == "__main__":
    main()
