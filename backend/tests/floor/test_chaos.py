"""The chaos test: paper and live deployments trade for many bars while the simulator
injects random latency, 5xx answers, hangs (before and after executing), rate limits and
partial fills, and a real Floor process is killed in the middle of sending orders several
times. At the end, after reconciliation, our books equal the simulator's balances and fills
exactly, no order exists twice, and no default limit was exceeded.

Seeded (`OMC_CHAOS_SEED`, default 1313): the schedule of faults and kills replays exactly
(which request a latency or time-out hits can still depend on the machine's load). It prints
what it injected and what it checked (`pytest -s`).
"""

import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from sqlmodel import Session, col, select

from app.core.config import settings
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.nonce import NonceGenerator
from app.exchange.simulator import RunningSimulator, SimAccount
from app.floor.executor import BrokerFactory, CycleRefused, run_cycle
from app.floor.ledger import PENDING_STATUSES, Order, Trade
from app.floor.models import DeployedAlgorithm
from app.floor.pnl.models import PnlOpenLot, PnlTotal
from app.floor.reconciliation import service
from app.floor.reconciliation.actions import resolve_break
from app.floor.reconciliation.models import BreakAction, ReconciliationBreak
from app.floor.schemas import RiskLimits
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.floor.conftest import BAR_T
from tests.floor.factories import (
    BAR,
    make_deployment,
    make_release,
    make_user,
    seed_prices,
    store_keys,
)
from tests.floor.helpers import dec, position_of, sim_fills
from tests.floor.processes import BACKEND_DIR, crash, floor_env, wait_for
from tests.floor.test_reconciliation import account_client

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(400)]
Brokers = Callable[..., BrokerFactory]
SEED = int(os.environ.get("OMC_CHAOS_SEED", "1313"))
BARS = 12
KILL_BARS = (3, 6, 9)
GRACE = 2.0  # FLOOR_RESOLVE_GRACE_SECONDS for this test: unknown orders settle in-run
PLACE = "/api/v2/my/*/now"
# Breaks a crash can leave that adopting Coinspot's view settles; any other kind fails.
RESOLVABLE = {"unknown_order", "missed_fill", "filled_thought_open"}

CHAOS_CODE = '''
import numpy as np
import pandas as pd

from app.lab.sdk import Algorithm


class Chaos(Algorithm):
    """A target that differs from each of the six bars before it: (3k mod 7) / 6."""

    algorithm_type = "rule"

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        bars = X.index.asi8 // 300_000_000_000
        return ((bars * 3) % 7) / 6.0
'''


def inject(rng: random.Random, simulator: RunningSimulator, log: Counter[str]) -> None:
    """A random handful of faults for the next bar's requests."""
    admin = simulator.admin
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(
            ["latency", "error_place", "error_read", "hang_after", "hang_before", "partial"]
            + ["rate_limit"]
        )
        if kind == "latency":
            admin.add_latency(round(rng.uniform(0.02, 0.25), 3), count=rng.randint(1, 6))
        elif kind == "error_place":
            admin.fail_next(1, path=PLACE, status=rng.choice([500, 502, 503]))
        elif kind == "error_read":
            admin.fail_next(rng.randint(1, 3), path="/api/v2/ro/*")
        elif kind == "hang_after":
            admin.hang_next(1, path=PLACE, seconds=1.5, mode="after")
        elif kind == "hang_before":
            admin.hang_next(1, path=PLACE, seconds=1.5, mode="before")
        elif kind == "partial":
            admin.partial_fills(1, ratio=rng.choice(["0.3", "0.5", "0.75"]))
        else:
            admin.rate_limit_next(1, path=PLACE)
        log[kind] += 1


def live_orders(user_id: uuid.UUID) -> list[Order]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(Order).where(col(Order.user_id) == user_id, col(Order.mode) == "live")
            ).all()
        )


def trades_for(deployment_ids: list[uuid.UUID]) -> list[Trade]:
    with Session(engine) as s:
        query = select(Trade).where(col(Trade.deployment_id).in_(deployment_ids))
        return list(s.exec(query.order_by(col(Trade.created_at))).all())


def spawn_worker(simulator: RunningSimulator, index: int) -> tuple[subprocess.Popen[bytes], str]:
    """A Floor process that starts now and runs one cycle when told (`chaos_worker`)."""
    name = f"floor-chaos-{index}"
    env = floor_env(simulator.base_url, name, 65000 + 1000 * index)
    env["FLOOR_RESOLVE_GRACE_SECONDS"] = str(GRACE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.floor.chaos_worker"],
        cwd=BACKEND_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the sandbox children die with it
    )
    return proc, name


def kill_mid_send(
    simulator: RunningSimulator,
    worker: tuple[subprocess.Popen[bytes], str],
    deployment: DeployedAlgorithm,
    account: SimAccount,
    bar: datetime,
    mode: str,
) -> str:
    """Have a real Floor process run the bar's cycle and SIGKILL it while its order is being
    sent (the exchange executes the order first with mode "after", never with "before")."""
    proc, name = worker
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == b"ready", "the Floor process did not start"
    simulator.admin.clear_faults()
    simulator.admin.hang_next(
        1, path=PLACE, seconds=30, mode="before" if mode == "before" else "after"
    )
    fills_before = len(sim_fills(simulator.admin.account(account.api_key)))
    proc.stdin.write(f"{deployment.id} {bar.isoformat()}\n".encode())
    proc.stdin.flush()

    def at_the_kill_point() -> bool:
        sending = any(
            o.status == "submitting" and o.deployment_id == deployment.id
            for o in live_orders(deployment.user_id)
        )
        if mode == "after":
            executed = len(sim_fills(simulator.admin.account(account.api_key))) > fills_before
            return sending and executed
        return sending

    try:
        wait_for(at_the_kill_point, "the order to be in flight", proc, timeout=240)
    finally:
        crash(proc, name)
    simulator.admin.clear_faults()
    return f"killed the Floor process while sending ({mode} the exchange executed)"


async def test_chaos(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    nonce_generator: NonceGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "FLOOR_RESOLVE_GRACE_SECONDS", GRACE)
    rng = random.Random(SEED)
    started = datetime.now(UTC)
    for coin in ("BTC", "ETH"):
        seed_prices(db, coin, BAR_T + (BARS + 1) * BAR, BARS + 10)

    owner_a, owner_b = make_user(db), make_user(db)
    release_a = make_release(db, owner_a, CHAOS_CODE, warmup_bars=3)
    release_b = make_release(db, owner_b, CHAOS_CODE, warmup_bars=3)
    account_a = simulator.admin.create_account({"AUD": "6000"})
    account_b = simulator.admin.create_account({"AUD": "3000"})
    store_keys(db, owner_a, account_a.api_key, account_a.api_secret)
    store_keys(db, owner_b, account_b.api_key, account_b.api_secret)
    live_a = [
        make_deployment(db, release_a, mode="live", capital="3000", coins=[c])
        for c in ("BTC", "ETH")
    ]
    live_b = [make_deployment(db, release_b, mode="live", capital="3000", coins=["BTC"])]
    paper = [make_deployment(db, release_a, capital="5000", coins=[c]) for c in ("BTC", "ETH")]
    accounts = {owner_a.id: (account_a, live_a, "6000"), owner_b.id: (account_b, live_b, "3000")}
    factories = {
        owner_a.id: sim_brokers(account_a, timeout=1.0),
        owner_b.id: sim_brokers(account_b, timeout=1.0),
    }
    clients: dict[uuid.UUID, CoinspotClient] = {
        uid: account_client(simulator, acc, nonce_generator)
        for uid, (acc, _, _) in accounts.items()
    }
    workers = [spawn_worker(simulator, i) for i in range(len(KILL_BARS))]
    injected: Counter[str] = Counter()
    timing: Counter[str] = Counter()
    events: list[str] = []
    try:
        for uid, client in clients.items():
            run = await service.reconcile_account(uid, client, trigger="startup")
            assert run.outcome == "clean", run

        kills = 0
        for step in range(BARS):
            bar = BAR_T + step * BAR
            victim = None
            simulator.admin.tick(rng.randint(1, 4))
            if step in KILL_BARS:
                victim = rng.choice([*live_a, *live_b])
                assert victim is not None
                mode = rng.choice(["after", "before"])
                account = accounts[victim.user_id][0]
                kill_started = time.perf_counter()
                events.append(
                    f"bar {step}: "
                    + kill_mid_send(simulator, workers[kills], victim, account, bar, mode)
                )
                injected[f"kill_{mode}"] += 1
                timing["kills_s"] += time.perf_counter() - kill_started
                kills += 1
                # The restart: start-up reconciliation, then the remaining cycles of the bar.
                for uid, client in clients.items():
                    await service.reconcile_account(uid, client, trigger="startup")
            inject(rng, simulator, injected)
            cycles_started = time.perf_counter()
            for deployment in [*live_a, *live_b, *paper]:
                try:
                    await run_cycle(
                        deployment.id,
                        bar,
                        trigger="chaos",
                        pool=pool,
                        broker_factory=factories[deployment.user_id],
                    )
                except CycleRefused as refused:  # the killed process had claimed this bar
                    assert refused.code == "decided" and deployment.id == victim.id
            timing["cycles_s"] += time.perf_counter() - cycles_started
            simulator.admin.clear_faults()

        # Quiet exchange: reconcile past the grace period, adopt what the runs found.
        later = datetime.now(UTC) + timedelta(seconds=GRACE + 1)
        found: list[ReconciliationBreak] = []
        for uid, client in clients.items():
            await service.reconcile_account(uid, client, trigger="final", now=later)
            with Session(engine) as s:
                found += s.exec(
                    select(ReconciliationBreak).where(col(ReconciliationBreak.user_id) == uid)
                ).all()
            unexplained = [b.kind for b in found if b.kind not in RESOLVABLE]
            assert not unexplained, f"books and Coinspot disagree: {unexplained}"
            for item in found:
                if item.user_id == uid and item.status == "open":
                    await resolve_break(engine, item.id, uid, BreakAction.ADOPT, None, client)
            final = await service.reconcile_account(uid, client, trigger="final", now=later)
            assert final.outcome == "clean", final
        checked = check_books(simulator, accounts, paper, found)
    finally:
        for client in clients.values():
            await client.aclose()
        for proc, name in workers:
            if proc.poll() is None:
                crash(proc, name)
    elapsed = (datetime.now(UTC) - started).total_seconds()
    report = [
        f"CHAOS seed={SEED} bars={BARS}: 3 live deployments on 2 accounts + 2 paper, "
        f"{elapsed:.1f} s (" + ", ".join(f"{k} {v:.1f}" for k, v in sorted(timing.items())) + ")",
        "  injected: " + ", ".join(f"{k}={v}" for k, v in sorted(injected.items())),
        *(f"  {line}" for line in events),
        "  breaks found: " + (", ".join(f"{b.kind}/{b.coin}" for b in found) or "none"),
        *(f"  checked: {line}" for line in checked),
    ]
    print("\n" + "\n".join(report))  # noqa: T201 - the test's report (pytest -s)


def check_books(
    simulator: RunningSimulator,
    accounts: dict[uuid.UUID, tuple[SimAccount, list[DeployedAlgorithm], str]],
    paper: list[DeployedAlgorithm],
    found: list[ReconciliationBreak],
) -> list[str]:
    lines: list[str] = []
    outside = {b.kind for b in found} & {"external_trade", "external_order"}
    assert not outside, f"our own orders were not recognised: {outside}"
    limits = RiskLimits()
    total_orders = total_fills = 0
    for uid, (account, deployments, funded) in accounts.items():
        view = simulator.admin.account(account.api_key)
        fills = sim_fills(view)
        ids = [d.id for d in deployments]
        trades = trades_for(ids)
        orders = live_orders(uid)
        assert not [o for o in orders if o.status in PENDING_STATUSES], "orders left in flight"
        # Every exchange fill is booked exactly once, and nothing else is.
        ours = Counter((t.coin, t.side, t.quantity, t.total_aud) for t in trades)
        theirs = Counter(
            (
                f["coin"],
                f["side"],
                dec(f["amount"]),
                dec(f["amount"]) * dec(f["rate"])
                + (1 if f["side"] == "buy" else -1) * dec(f["fee"]),
            )
            for f in fills
        )
        assert ours == theirs
        assert len({t.match_key for t in trades}) == len(trades)
        per_order = Counter(t.order_id for t in trades)
        assert all(n == 1 for n in per_order.values()), "an instant order filled twice"
        # Balances: the sleeves hold exactly what the account holds.
        balances: dict[str, Decimal] = view["balances"]
        cash = sum((position_of(d.id, d.coins[0]).cash for d in deployments), Decimal(0))
        assert cash == balances["AUD"]
        for d in deployments:
            coin = d.coins[0]
            assert position_of(d.id, coin).quantity == balances.get(coin, Decimal(0))
        assert Decimal(funded) - cash == sum(
            (t.total_aud if t.side == "buy" else -t.total_aud for t in trades), Decimal(0)
        )
        total_orders += len(orders)
        total_fills += len(fills)
        lines.append(
            f"account {account.api_key[:12]}: {len(fills)} exchange fills = {len(trades)} trades, "
            f"AUD {balances['AUD']} = sleeves' cash, coins = positions"
        )
    for deployment in [d for _, ds, _ in accounts.values() for d in ds] + paper:
        check_deployment(deployment, limits)
    lines.append(f"{total_orders} live orders, {total_fills} fills, no order twice")
    lines.append(
        f"P&L lots = positions and fees for {len(paper) + sum(len(d) for _, d, _ in accounts.values())}"
        f" deployments; limits: orders/hour <= {limits.max_orders_per_hour}, position <= "
        f"{limits.max_position_fraction} x capital, drawdown < {limits.max_drawdown_fraction}, "
        "cash never below 0"
    )
    return lines


def check_deployment(deployment: DeployedAlgorithm, limits: RiskLimits) -> None:
    coin = deployment.coins[0]
    trades = trades_for([deployment.id])
    position = position_of(deployment.id, coin)
    cash, quantity, peak_cost = deployment.capital, Decimal(0), Decimal(0)
    peak = worst_drawdown = Decimal(0)
    for trade in trades:
        if trade.side == "buy":
            cash -= trade.total_aud
            quantity += trade.quantity
        else:
            cash += trade.total_aud
            quantity -= trade.quantity
        assert cash >= 0 and quantity >= 0, "the sleeve was overspent"
        peak_cost = max(peak_cost, quantity * trade.price)
        equity = cash + quantity * trade.price
        peak = max(peak, equity, deployment.capital)
        worst_drawdown = max(worst_drawdown, (peak - equity) / peak)
    assert (cash, quantity) == (position.cash, position.quantity)
    assert limits.max_position_fraction is not None
    assert peak_cost <= deployment.capital * limits.max_position_fraction
    assert limits.max_orders_per_hour is not None
    with Session(engine) as s:
        orders = s.exec(select(Order).where(col(Order.deployment_id) == deployment.id)).all()
        lots = s.exec(
            select(PnlOpenLot).where(col(PnlOpenLot.deployment_id) == deployment.id)
        ).all()
        totals = s.exec(select(PnlTotal).where(col(PnlTotal.deployment_id) == deployment.id)).all()
        owner = s.get(User, deployment.user_id)
    assert owner is not None
    assert len(orders) <= limits.max_orders_per_hour  # all within one hour of bars
    assert sum((lot.quantity for lot in lots), Decimal(0)) == position.quantity
    with localcontext(prec=100):  # exact sums of the stored full-precision amounts
        paid = sum((t.fee + t.gst for t in trades), Decimal(0))
        held = sum((lot.fee + lot.gst for lot in lots), Decimal(0))
        assert held + sum((t.fees for t in totals), Decimal(0)) == paid
    assert limits.max_drawdown_fraction is not None
    assert worst_drawdown < limits.max_drawdown_fraction
