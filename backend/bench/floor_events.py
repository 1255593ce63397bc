"""Live-update figures: one event fanned out to N WebSocket clients (default 500).

    cd backend && uv run python bench/floor_events.py [--clients 500] [--repeat 5]
    (or as part of everything: uv run python bench/floor.py --only fanout)

Works in a scratch database (bench/scratchdb.py). The app runs in its own uvicorn process
(bench/events_app.py); the clients run here, in one asyncio loop. For each round, one
broadcast `price.update` event is published and committed here, and the time from the
commit to its arrival at each client is measured: p50, p95 and the last client (all N).
A second measurement sends one user event to N connections of that user.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scratchdb

BACKEND = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ALERT_SCHEDULER_ENABLED": "false", "BACKTEST_WORKER_ENABLED": "false"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "events_app:app",
            "--app-dir",
            str(BACKEND / "bench"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws-max-queue",
            "64",
        ],
        cwd=BACKEND,
        env=env,
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/api/v1/utils/health-check/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


def publish(user_id: object | None) -> tuple[int, float]:
    from sqlmodel import Session

    from app.core.db import engine
    from app.events.service import publish as publish_event

    with Session(engine) as session:
        row = publish_event(
            session,
            user_id,  # type: ignore[arg-type]
            "price.update" if user_id is None else "pnl.update",
            {
                "slot": "2030-01-01T00:00:00Z",
                "prices": [{"coin": "BTC", "bid": "1", "ask": "2", "last": "1.5"}],
            },
        )
        session.commit()
        committed = time.perf_counter()
        assert row.seq is not None
        return row.seq, committed


async def round_trip(conns: Sequence[Any], user_id: object | None) -> list[float]:
    import orjson

    async def wait_for(ws: Any, seq: int) -> float:
        while True:
            message = orjson.loads(await ws.recv())
            if message.get("type") == "event" and message["seq"] == seq:
                return time.perf_counter()

    seq, committed = await asyncio.to_thread(publish, user_id)
    arrivals = await asyncio.wait_for(
        asyncio.gather(*(wait_for(ws, seq) for ws in conns)), timeout=60
    )
    return [a - committed for a in arrivals]


def report(label: str, rounds: list[list[float]]) -> None:
    p50 = statistics.median(statistics.median(r) for r in rounds)
    p95 = statistics.median(sorted(r)[int(len(r) * 0.95) - 1] for r in rounds)
    last = [max(r) for r in rounds]
    print(
        f"{label}: commit -> client p50 {p50 * 1000:7.1f} ms, p95 {p95 * 1000:7.1f} ms, "
        f"all {len(rounds[0])} clients {statistics.median(last) * 1000:7.1f} ms "
        f"(best {min(last) * 1000:.1f}, worst {max(last) * 1000:.1f}) over {len(rounds)} rounds"
    )


async def bench(base: str, clients: int, repeat: int) -> None:
    import httpx
    from sqlmodel import Session, select
    from websockets.asyncio.client import connect

    from app.core.db import engine
    from app.users.models import User

    token = httpx.post(
        f"{base}/api/v1/login/access-token",
        data={"username": scratchdb.EMAIL, "password": scratchdb.PASSWORD},
    ).json()["access_token"]
    with Session(engine) as session:
        user_id = session.exec(select(User.id).where(User.email == scratchdb.EMAIL)).one()
    url = base.replace("http://", "ws://") + f"/api/v1/ws?token={token}"
    started = time.perf_counter()
    conns = []
    for start in range(0, clients, 50):
        batch = await asyncio.gather(
            *(
                connect(url, max_queue=64, open_timeout=60)
                for _ in range(start, min(clients, start + 50))
            )
        )
        conns.extend(batch)
    for ws in conns:
        await ws.recv()  # welcome
    print(f"{clients} WebSocket clients connected in {time.perf_counter() - started:.2f} s")
    try:
        await round_trip(conns, None)  # warm-up
        report(f"broadcast to {clients}", [await round_trip(conns, None) for _ in range(repeat)])
        report(
            f"user event to {clients} sessions",
            [await round_trip(conns, user_id) for _ in range(repeat)],
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    scratchdb.create()
    run(args.clients, args.repeat)


def run(clients: int, repeat: int) -> None:
    """Start the app process on the (already created) scratch database and measure."""
    port = free_port()
    proc = start_server(port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        asyncio.run(bench(base, clients, repeat))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
