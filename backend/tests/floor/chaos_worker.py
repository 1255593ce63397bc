"""A Floor worker process for the chaos test, started ahead of time so its start-up (the
sandbox forkserver) overlaps the test's own work.

It starts as `python -m app.floor.cli` does (settings from the environment, the default
sandbox pool and brokers), prints `ready`, waits for one line on stdin,
`<deployment id> <bar ISO>`, and runs that cycle exactly as `cli run-cycle` would. The test
kills it while the cycle sends its order.
"""

import asyncio
import json
import sys
import uuid
from datetime import datetime

import app.models  # noqa: F401 - every table, so foreign keys resolve
from app.core.logging import setup_logging
from app.exchange.factory import shared_client
from app.floor.executor import run_cycle
from app.floor.service import default_broker
from app.lab.sandbox.service import get_pool, start_default_pool, stop_default_pool


async def main() -> None:
    await start_default_pool()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    line = await asyncio.to_thread(sys.stdin.readline)
    deployment, bar = line.split()
    try:
        result = await run_cycle(
            uuid.UUID(deployment),
            datetime.fromisoformat(bar),
            trigger="cli",
            pool=get_pool(),
            broker_factory=default_broker,
        )
        sys.stdout.write(json.dumps({"status": result.status, "orders": result.order_ids}) + "\n")
    finally:
        await shared_client().aclose()
        await stop_default_pool()


if __name__ == "__main__":
    setup_logging()
    asyncio.run(main())
