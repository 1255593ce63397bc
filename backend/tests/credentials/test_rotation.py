"""Key rotation: new key first, old keys keep decrypting, the CLI re-encrypts every row."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.core.config import settings
from app.core.crypto import SecretCipher, generate_key
from app.core.db import engine
from app.credentials import cli, service
from app.credentials.models import CoinspotCredential
from tests.credentials.helpers import (
    API,
    Owner,
    audit_rows,
    drop_credentials,
    make_owner,
    new_pair,
    raw_row,
    set_columns,
)

BACKEND_DIR = Path(__file__).resolve().parents[2]

# The keys the whole test run encrypts with (tests/conftest.py sets them in the environment).
RUN_KEYS = [k for k in os.environ.get("CREDENTIALS_ENCRYPTION_KEYS", "").split(",") if k]


def _all_rows() -> list[CoinspotCredential]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM coinspot_credentials")).mappings().all()
    return [CoinspotCredential.model_validate(dict(r)) for r in rows]


@pytest.fixture()
def owners(client: TestClient, db: Session) -> Iterator[list[Owner]]:
    made = [make_owner(client, db) for _ in range(3)]
    yield made
    for o in made:
        drop_credentials(o.id)


def test_rotation_re_encrypts_every_row(
    client: TestClient,
    owners: list[Owner],
    encryption_keys: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = encryption_keys
    pairs = [new_pair() for _ in owners]
    for o, p in zip(owners, pairs, strict=True):
        assert client.post(API, headers=o.headers, json=p.body()).status_code == 201

    new = generate_key()
    # The test run's own key stays last: it decrypts rows other test modules made with it (a
    # TOTP secret, another user's keys), which `rotate-keys` must re-encrypt too.
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [new, old, *RUN_KEYS])
    # Before rotation the old key still decrypts everything (through the API too).
    for o, p in zip(owners, pairs, strict=True):
        assert client.get(API, headers=o.headers).json()["key_last4"] == p.key[-4:]
    before = {o.id: raw_row(o.id) for o in owners}

    assert cli.main(["rotate-keys", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "re-encrypted" in out and "old keys can now be removed" in out

    rows = _all_rows()
    assert rows, "no rows to check"
    new_only = SecretCipher([new])
    old_only = SecretCipher([old])
    for row in rows:
        service.decrypt(row, new_only)  # every row, not only ours, is under the new key
        with pytest.raises(Exception, match="cannot be decrypted"):
            service.decrypt(row, old_only)
    for o in owners:
        after = raw_row(o.id)
        assert after is not None and before[o.id] is not None
        assert after["api_secret_encrypted"] != before[o.id]["api_secret_encrypted"]  # type: ignore[index]
        assert after["key_fingerprint"] == before[o.id]["key_fingerprint"]  # type: ignore[index]
        assert audit_rows(o.id)[-1]["action"] == "rotate_key"

    # The old key can now be removed: the API works with the new key alone.
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [new])
    for o, p in zip(owners, pairs, strict=True):
        body = client.get(API, headers=o.headers).json()
        assert body["key_last4"] == p.key[-4:]
    keys = service.decrypt(CoinspotCredential.model_validate(raw_row(owners[0].id)))
    assert keys.api_secret.get_secret_value() == pairs[0].secret

    # Leave every secret of the run (TOTP secrets of other modules' users included) under the
    # run's own key again, as the other tests expect.
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [*RUN_KEYS, new])
    assert cli.main(["rotate-keys"]) == 0


def test_rotation_reports_and_skips_undecryptable_rows(
    client: TestClient,
    owners: list[Owner],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good, bad = owners[0], owners[1]
    for o in (good, bad):
        assert client.post(API, headers=o.headers, json=new_pair().body()).status_code == 201
    lost_key_token = SecretCipher([generate_key()]).encrypt("x" * 20, context="whatever")
    set_columns(bad.id, api_secret_encrypted=lost_key_token)
    bad_before = raw_row(bad.id)

    monkeypatch.setattr(
        settings,
        "CREDENTIALS_ENCRYPTION_KEYS",
        [generate_key(), *settings.CREDENTIALS_ENCRYPTION_KEYS],
    )
    assert cli.main(["rotate-keys"]) == 1
    err = capsys.readouterr().err
    assert str(bad.id) in err and str(good.id) not in err
    assert raw_row(bad.id) == bad_before  # left exactly as it was
    assert audit_rows(bad.id)[-1]["outcome"] == "undecryptable"
    assert audit_rows(good.id)[-1]["outcome"] == "success"


def test_rotation_without_keys_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [])
    assert cli.main(["rotate-keys"]) == 2
    assert "not configured" in capsys.readouterr().err


def test_cli_entry_point_runs_as_a_module(
    client: TestClient, owner: Owner, encryption_keys: str
) -> None:
    """`python -m app.credentials.cli rotate-keys` in a real process, keys from the env."""
    pair = new_pair()
    assert client.post(API, headers=owner.headers, json=pair.body()).status_code == 201
    new = generate_key()
    keys = ",".join([new, encryption_keys, *RUN_KEYS])
    env = {**os.environ, "CREDENTIALS_ENCRYPTION_KEYS": keys}
    done = subprocess.run(
        [sys.executable, "-m", "app.credentials.cli", "rotate-keys"],
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted" in done.stdout
    row = CoinspotCredential.model_validate(raw_row(owner.id))
    assert service.decrypt(row, SecretCipher([new])).api_key.get_secret_value() == pair.key
    back = subprocess.run(  # every secret back under the run's own key, for the tests after
        [sys.executable, "-m", "app.credentials.cli", "rotate-keys"],
        cwd=BACKEND_DIR,
        env={**os.environ, "CREDENTIALS_ENCRYPTION_KEYS": ",".join([*RUN_KEYS, new])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert back.returncode == 0, back.stderr
    generated = subprocess.run(
        [sys.executable, "-m", "app.credentials.cli", "generate-key"],
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    SecretCipher([generated.stdout.strip()])  # a usable Fernet key
