"""The release's content hash changes when any part of the bundle changes, and only then;
the bundle file is the same bytes every time."""

import copy
import io
import json
import zipfile
from typing import Any

import pytest

from app.lab.releases import bundle

BASE: dict[str, Any] = {
    "code": "class A: pass\n",
    "code_hash": "c" * 64,
    "class_name": "A",
    "algorithm_type": "ml",
    "parameters": {"fast": 12, "slow": 48},
    "parameter_schema": {"properties": {"fast": {"type": "integer"}}},
    "models": {"BTC": "a" * 64},
    "libraries": {"python": "3.11.7", "numpy": "2.0", "pandas": "2.2", "scikit-learn": "1.5"},
    "costs": {"execution_style": "instant", "fee_rate": "0.01", "slippage_bps": "0.0"},
    "warmup_bars": 288,
    "training": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-02-01T00:00:00+00:00"},
    "evidence": {"backtest_run_ids": ["r1"], "main": {"metrics": {"sharpe": 1.2}}},
}

CHANGES: list[tuple[str, Any]] = [
    ("code", "class A: pass  # edited\n"),
    ("code_hash", "d" * 64),
    ("class_name", "B"),
    ("algorithm_type", "rule"),
    ("parameters", {"fast": 13, "slow": 48}),
    ("parameter_schema", {"properties": {}}),
    ("models", {"BTC": "b" * 64}),
    ("libraries", {**BASE["libraries"], "numpy": "2.1"}),
    ("costs", {**BASE["costs"], "fee_rate": "0.001"}),
    ("warmup_bars", 289),
    ("training", {**BASE["training"], "end": "2024-02-02T00:00:00+00:00"}),
    ("evidence", {"backtest_run_ids": ["r2"], "main": {"metrics": {"sharpe": 1.2}}}),
]


def digest(parts: dict[str, Any]) -> str:
    return bundle.content_hash(bundle.manifest(**parts))


def test_the_same_content_gives_the_same_hash() -> None:
    reordered = dict(reversed(list(copy.deepcopy(BASE).items())))
    reordered["parameters"] = {"slow": 48, "fast": 12}
    assert digest(BASE) == digest(reordered)


@pytest.mark.parametrize(("part", "value"), CHANGES, ids=[c[0] for c in CHANGES])
def test_any_changed_part_changes_the_hash(part: str, value: Any) -> None:
    assert digest({**BASE, part: value}) != digest(BASE)


def test_the_bundle_file_is_deterministic_and_carries_its_hash() -> None:
    manifest = bundle.manifest(**BASE)
    h = bundle.content_hash(manifest)
    first = bundle.archive(manifest, h, {"BTC": b"\x00model"})
    assert first == bundle.archive(manifest, h, {"BTC": b"\x00model"})
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert sorted(zf.namelist()) == ["algorithm.py", "manifest.json", "models/BTC.bin"]
        body = json.loads(zf.read("manifest.json"))
        assert zf.read("models/BTC.bin") == b"\x00model"
    assert body.pop("content_hash") == h
    assert bundle.content_hash(body) == h
