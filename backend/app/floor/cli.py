"""Operator commands for the Floor's executor.

    uv run python -m app.floor.cli run-cycle --deployment ID [--bar 2026-12-01T10:05:00Z]
    uv run python -m app.floor.cli schedule [--bar ISO]   # mark due, as the leader would
    uv run python -m app.floor.cli work                  # run due cycles until none is left

Rules: the same code paths as the app (executor, default brokers, sandbox pool from the
settings); each prints one JSON line with what it did. `work` exits when no deployment this
process can claim is due.
"""

import argparse
import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import app.models  # noqa: F401 - every table, so foreign keys resolve
from app.core.db import engine
from app.core.logging import setup_logging
from app.exchange.factory import shared_client
from app.floor.executor import run_cycle
from app.floor.scheduler import due_deployments, mark_due, work_once
from app.floor.service import default_broker
from app.floor.signals import bar_of
from app.lab.sandbox.service import get_pool, start_default_pool, stop_default_pool


def _bar(text: str | None) -> datetime:
    if text is None:
        return bar_of(datetime.now(UTC))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return bar_of(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


async def _main(args: argparse.Namespace) -> Mapping[str, object]:
    if args.command == "schedule":
        bar = _bar(args.bar)
        return {"bar": bar.isoformat(), "due": mark_due(engine, bar)}
    await start_default_pool()
    try:
        if args.command == "run-cycle":
            result = await run_cycle(
                uuid.UUID(args.deployment),
                _bar(args.bar),
                trigger="cli",
                pool=get_pool(),
                broker_factory=default_broker,
            )
            return {
                "run_id": str(result.run_id),
                "status": result.status,
                "orders": result.order_ids,
            }
        totals = {"ran": 0, "skipped": 0}
        while due_deployments(engine, 1):
            counts = await work_once(engine, get_pool(), default_broker, args.concurrency)
            totals = {k: totals[k] + counts[k] for k in totals}
            if counts["ran"] == 0:
                break
        return totals
    finally:
        await shared_client().aclose()
        await stop_default_pool()


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(prog="python -m app.floor.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    cycle = sub.add_parser("run-cycle", help="run one cycle of one deployment")
    cycle.add_argument("--deployment", required=True)
    cycle.add_argument("--bar", help="the bar to decide on (default: the latest closed one)")
    schedule = sub.add_parser("schedule", help="mark running deployments due on a bar")
    schedule.add_argument("--bar")
    work = sub.add_parser("work", help="run due cycles until none is left")
    work.add_argument("--concurrency", type=int, default=4)
    print(json.dumps(asyncio.run(_main(parser.parse_args(argv)))))


if __name__ == "__main__":
    main()
