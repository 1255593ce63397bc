"""Price history from the command line.

    python -m app.collector.cli import-csv FILE [--layout auto|prices|ohlcv] [--coin BTC]
                                                [--spread-bps 20] [--source import]
    python -m app.collector.cli generate-demo [--days 90] [--coins 20] [--seed 1] [--if-empty]
    python -m app.collector.cli gaps [--coin BTC] [--start ISO] [--end ISO] [--limit 100]

All of them are idempotent: rows already stored for a coin and slot are left alone.
"""

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session
from tqdm import tqdm

from app.collector import queries
from app.collector.bulk import store_frames
from app.collector.demo import synthetic_history
from app.collector.importer import ImportFormatError, ImportStats, read_chunks
from app.core.db import engine
from app.core.logging import setup_logging


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _progress(
    frames: Iterator[pd.DataFrame], total: int | None, desc: str
) -> Iterator[pd.DataFrame]:
    with tqdm(
        total=total, unit="rows", desc=desc, unit_scale=True, file=sys.stderr, disable=None
    ) as bar:
        for frame in frames:
            yield frame
            bar.update(len(frame))


def import_csv(args: argparse.Namespace) -> int:
    path = Path(args.file)
    stats = ImportStats()
    started = time.monotonic()
    try:
        frames = read_chunks(
            path,
            layout=args.layout,
            coin=args.coin,
            spread_bps=args.spread_bps,
            source=args.source,
            stats=stats,
        )
        offered, stored = store_frames(_progress(frames, None, f"importing {path.name}"))
    except ImportFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - started
    print(
        f"read {stats.read} rows: stored {stored}, already present {offered - stored}, "
        f"rejected {stats.rejected} ({stats.read / max(seconds, 1e-9):,.0f} rows/s)"
    )
    for reason, count in stats.reasons.most_common():
        print(f"  {count} {reason}")
    return 0


def _row_count() -> int:
    with Session(engine) as session:
        return int(
            session.connection()
            .execute(sa.text("SELECT count(*) FROM price_data_5min"))
            .scalar_one()
        )


def generate_demo(args: argparse.Namespace) -> int:
    if args.if_empty and _row_count() > 0:
        print("prices already stored: no demo history generated")
        return 0
    frames = synthetic_history(days=args.days, coins=args.coins, seed=args.seed)
    total = sum(len(f) for f in frames)
    offered, stored = store_frames(_progress(iter(frames), total, "generating demo history"))
    print(
        f"synthetic demo history: {stored} rows stored ({offered - stored} already present), "
        f"{args.coins} coins × {args.days} days, marked source='synthetic'"
    )
    return 0


def list_gaps(args: argparse.Namespace) -> int:
    end = _utc(args.end) if args.end else datetime.now(UTC)
    start = _utc(args.start) if args.start else end - timedelta(days=30)
    with Session(engine) as session:
        rows = queries.gaps(
            session, start, end, coin=args.coin.upper() if args.coin else None, limit=args.limit
        )
    if not rows:
        print("no gaps")
        return 0
    print(f"{'coin':<8} {'missing':>8}  after -> before")
    for row in rows:
        print(
            f"{row['coin']:<8} {row['missing']:>8}  {row['after'].isoformat()} -> {row['before'].isoformat()}"
        )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m app.collector.cli", description=__doc__.split("\n\n")[0]
    )
    sub = root.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import-csv", help="load price history from a CSV file")
    imp.add_argument("file")
    imp.add_argument("--layout", choices=["auto", "prices", "ohlcv"], default="auto")
    imp.add_argument("--coin", help="the coin of every row, for files without a coin column")
    imp.add_argument(
        "--spread-bps", type=float, default=20.0, help="OHLCV files: bid/ask spread around close"
    )
    imp.add_argument("--source", choices=["import", "synthetic"], default="import")
    imp.set_defaults(handler=import_csv)
    demo = sub.add_parser(
        "generate-demo", help="store seeded synthetic history (source='synthetic')"
    )
    demo.add_argument("--days", type=int, default=90)
    demo.add_argument("--coins", type=int, default=20)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--if-empty", action="store_true", help="only when no prices are stored yet")
    demo.set_defaults(handler=generate_demo)
    gaps = sub.add_parser("gaps", help="list missing 5-minute slots per coin")
    gaps.add_argument("--coin")
    gaps.add_argument("--start", help="ISO time (default: 30 days before end)")
    gaps.add_argument("--end", help="ISO time (default: now)")
    gaps.add_argument("--limit", type=int, default=100)
    gaps.set_defaults(handler=list_gaps)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging()
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
