"""The history CLI: CSV import (both layouts), demo data and gap listing."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.collector.cli import main
from app.core.db import engine


def count(where: str = "true") -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                sa.text(f"SELECT count(*) FROM price_data_5min WHERE {where}")
            ).scalar_one()
        )


def test_import_prices_layout_validates_rows_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text(
        "timestamp,coin,bid,ask,last\n"
        "2026-01-01T00:00:00Z,btc,99,101,100\n"
        "2026-01-01T00:05:00Z,BTC,100,102,101\n"
        "2026-01-01T00:05:00Z,ETH,0.00001234,0.00001240,0.00001237\n"
        "2026-01-01T00:10:00Z,BTC,-1,102,101\n"  # negative
        "2026-01-01T00:15:00Z,BTC,103,102,101\n"  # ask below bid
        "not a time,BTC,1,2,1.5\n"
        "2026-01-01T00:20:00Z,BTC,abc,2,1.5\n"
        "2026-01-01T00:25:00Z,BTC,1e14,2e14,1.5e14\n"  # beyond NUMERIC(30,16)
    )
    assert main(["import-csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "stored 3" in out and "rejected 5" in out
    assert (
        "1 price not positive" in out
        and "1 ask below bid" in out
        and "1 timestamp not understood" in out
        and "1 price outside" in out
    )
    assert count() == 3
    assert count("coin_type = 'ETH' AND \"last\" = 0.00001237") == 1
    assert count("source = 'import'") == 3

    assert main(["import-csv", str(csv)]) == 0
    assert "stored 0, already present 3" in capsys.readouterr().out
    assert count() == 3


def test_import_ohlcv_maps_close_to_last_with_a_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "sol.csv"
    csv.write_text(
        "Timestamp,Open,High,Low,Close,Volume\n"
        "1767225600,10,11,9,10.5,1000\n"
        "1767225660,10.5,11,10,10.8,500\n"  # same 5-minute slot: the last row wins
        "1767225900,10.8,11,10,11,700\n"
    )
    assert main(["import-csv", str(csv), "--coin", "sol", "--spread-bps", "100"]) == 0
    assert "stored 2" in capsys.readouterr().out
    with Session(engine) as session:
        rows = session.execute(
            sa.text(
                'SELECT "timestamp", bid, ask, "last" FROM price_data_5min WHERE coin_type = \'SOL\' ORDER BY 1'
            )
        ).all()
    assert [float(r.last) for r in rows] == [10.8, 11.0]
    assert float(rows[0].bid) == pytest.approx(10.8 * 0.995) and float(
        rows[0].ask
    ) == pytest.approx(10.8 * 1.005)
    assert rows[0].timestamp.isoformat() == "2026-01-01T00:00:00+00:00"


def test_import_refuses_unknown_layouts_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "odd.csv"
    csv.write_text("when,price\n2026-01-01,1\n")
    assert main(["import-csv", str(csv)]) == 2
    assert "match no layout" in capsys.readouterr().err
    assert main(["import-csv", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert count() == 0


def test_generate_demo_marks_rows_synthetic_and_respects_if_empty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["generate-demo", "--days", "2", "--coins", "3", "--seed", "4", "--if-empty"]) == 0
    assert count() == 2 * 288 * 3
    assert count("source = 'synthetic'") == count()
    assert main(["generate-demo", "--days", "2", "--coins", "3", "--if-empty"]) == 0
    assert "already stored" in capsys.readouterr().out
    assert count() == 2 * 288 * 3
    with Session(engine) as session:
        bad: int = session.execute(
            sa.text(
                'SELECT count(*) FROM price_data_5min WHERE NOT (bid > 0 AND ask >= bid AND "last" > 0)'
            )
        ).scalar_one()
    assert bad == 0


def test_gaps_lists_missing_slots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "gappy.csv"
    csv.write_text(
        "timestamp,coin,bid,ask,last\n"
        "2026-01-01T00:00:00Z,BTC,1,2,1.5\n"
        "2026-01-01T00:05:00Z,BTC,1,2,1.5\n"
        "2026-01-01T00:25:00Z,BTC,1,2,1.5\n"
    )
    main(["import-csv", str(csv)])
    capsys.readouterr()
    assert (
        main(
            [
                "gaps",
                "--coin",
                "btc",
                "--start",
                "2025-12-31T00:00:00",
                "--end",
                "2026-01-02T00:00:00",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "BTC" in out and " 3  2026-01-01T00:05:00+00:00 -> 2026-01-01T00:25:00+00:00" in out
