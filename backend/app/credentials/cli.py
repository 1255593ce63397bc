"""Credentials administration from the command line.

    python -m app.credentials.cli rotate-keys   re-encrypt every row (and every TOTP secret) under the first key
    python -m app.credentials.cli generate-key  print a new Fernet key

Exit codes: 0 done, 1 some rows could not be decrypted (listed, left unchanged),
2 encryption keys missing or malformed.
"""

import argparse
import sys
from collections.abc import Sequence

from sqlmodel import Session

import app.models  # noqa: F401  (registers every table, so foreign keys resolve)
from app.auth import totp
from app.core.crypto import (
    EncryptionNotConfiguredError,
    InvalidEncryptionKeyError,
    generate_key,
    get_credentials_cipher,
)
from app.core.db import engine
from app.credentials.rotation import rotate_all


def _rotate(batch_size: int) -> int:
    try:
        cipher = get_credentials_cipher()
    except (EncryptionNotConfiguredError, InvalidEncryptionKeyError) as exc:
        print(f"error: {exc} (set CREDENTIALS_ENCRYPTION_KEYS=newkey,oldkey)", file=sys.stderr)
        return 2
    with Session(engine) as session:
        report = rotate_all(session, cipher, batch_size=batch_size)
        totp_rotated, totp_failed = totp.rotate_all(session, cipher)
    print(f"re-encrypted {report.rotated} credential row(s) under the first key")
    print(f"re-encrypted {totp_rotated} two-factor secret(s) under the first key")
    if totp_failed:
        print(
            f"{len(totp_failed)} two-factor secret(s) could not be decrypted and were left "
            "unchanged (those users sign in with a recovery code and enrol again):",
            file=sys.stderr,
        )
        for user_id in totp_failed:
            print(f"  user {user_id}", file=sys.stderr)
    if report.failed:
        print(
            f"{len(report.failed)} row(s) could not be decrypted with any configured key and "
            "were left unchanged (their owners must re-enter them):",
            file=sys.stderr,
        )
        for row_id, user_id in report.failed:
            print(f"  row {row_id} (user {user_id})", file=sys.stderr)
        return 1
    if totp_failed:
        return 1
    print("old keys can now be removed from CREDENTIALS_ENCRYPTION_KEYS")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.credentials.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser(
        "rotate-keys", help="re-encrypt every stored credential under the first configured key"
    )
    rotate.add_argument("--batch-size", type=_positive_int, default=200)
    commands.add_parser("generate-key", help="print a new Fernet key")
    args = parser.parse_args(argv)
    if args.command == "generate-key":
        print(generate_key())
        return 0
    return _rotate(args.batch_size)


if __name__ == "__main__":
    sys.exit(main())
