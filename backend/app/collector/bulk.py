"""The fast path for many prices: COPY into a temporary table, then one INSERT … SELECT …
ON CONFLICT DO NOTHING, so loading is idempotent (rows already stored are skipped)."""

import io
import logging
import time
from collections.abc import Iterable

import pandas as pd
from sqlalchemy.engine import Engine

from app.core.db import engine as default_engine

logger = logging.getLogger(__name__)

COLUMNS = ["timestamp", "coin_type", "bid", "ask", "last", "source"]


def _csv_block(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(
        buffer, header=False, index=False, columns=COLUMNS, date_format="%Y-%m-%dT%H:%M:%S%z"
    )
    return buffer.getvalue().encode()


def store_frames(
    frames: Iterable[pd.DataFrame], *, db_engine: Engine | None = None
) -> tuple[int, int]:
    """Store validated frames (columns COLUMNS, timestamps tz-aware UTC); returns
    (rows offered, rows newly stored). Everything is one transaction."""
    raw = (db_engine or default_engine).raw_connection()
    offered = 0
    started = time.monotonic()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE price_import (LIKE price_data_5min INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            cur.execute("ALTER TABLE price_import DROP COLUMN id")
            with cur.copy(
                f"COPY price_import ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                for frame in frames:
                    if frame.empty:
                        continue
                    copy.write(_csv_block(frame))
                    offered += len(frame)
            cur.execute(
                f"""
                INSERT INTO price_data_5min ({", ".join(COLUMNS)})
                SELECT {", ".join(COLUMNS)} FROM price_import
                ORDER BY coin_type, "timestamp"
                ON CONFLICT (coin_type, "timestamp") DO NOTHING
                """
            )
            stored = cur.rowcount
        conn.commit()
    except Exception:
        raw.rollback()
        raise
    finally:
        raw.close()
    logger.info(
        "prices bulk-stored",
        extra={
            "offered": offered,
            "stored": stored,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return offered, stored
