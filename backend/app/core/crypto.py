"""Symmetric encryption of secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256).

Keys come from settings (`CREDENTIALS_ENCRYPTION_KEYS`), never from the database. The
first key encrypts, every key decrypts (MultiFernet), so a key can be rotated in by
putting it first, re-encrypting the rows (`rotate`), then dropping the old key.

Each plaintext is sealed together with a *context* string (e.g. the owning row and
column). Decrypting checks the context, so a ciphertext copied into another user's row,
or from the key column into the secret column, is refused instead of silently used.

Nothing here ever puts a key, a plaintext or a ciphertext into an exception message.
This module must not import settings at import time: config.py uses `load_fernet_keys`.
"""

import json
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_FORMAT_VERSION = 1


class CryptoError(Exception):
    """Base of the errors below; messages are safe to show to users and to log."""


class EncryptionNotConfiguredError(CryptoError):
    """No encryption key is configured."""

    def __init__(self) -> None:
        super().__init__("credential encryption is not configured")


class InvalidEncryptionKeyError(CryptoError):
    """A configured key is not a Fernet key (32 url-safe base64-encoded bytes)."""


class DecryptionError(CryptoError):
    """A ciphertext is corrupt, was made with a key we no longer have, or is misplaced."""

    def __init__(self) -> None:
        super().__init__("stored ciphertext cannot be decrypted with the configured keys")


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def load_fernet_keys(keys: Sequence[str]) -> list[Fernet]:
    """Parse keys into Fernet instances; errors name the position, never the value."""
    fernets: list[Fernet] = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.strip().encode("ascii")))
        except (ValueError, TypeError, UnicodeEncodeError):
            raise InvalidEncryptionKeyError(
                f"encryption key #{position} of {len(keys)} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return fernets


class SecretCipher:
    """Encrypts and decrypts short strings under a MultiFernet built from `keys`."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise EncryptionNotConfiguredError()
        self._fernet = MultiFernet(load_fernet_keys(keys))

    def __repr__(self) -> str:
        return "SecretCipher(<keys hidden>)"

    def encrypt(self, plaintext: str, *, context: str) -> str:
        payload = json.dumps({"v": _FORMAT_VERSION, "c": context, "p": plaintext})
        return self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, context: str) -> str:
        try:
            raw = self._fernet.decrypt(token.encode("ascii"))
            payload = json.loads(raw)
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptionError() from None
        if (
            not isinstance(payload, dict)
            or payload.get("v") != _FORMAT_VERSION
            or payload.get("c") != context
            or not isinstance(payload.get("p"), str)
        ):
            raise DecryptionError()
        plaintext: str = payload["p"]
        return plaintext

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the first key (the context travels unchanged)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptionError() from None


@lru_cache(maxsize=8)
def _cipher_for(keys: tuple[str, ...]) -> SecretCipher:
    return SecretCipher(keys)


def get_credentials_cipher() -> SecretCipher:
    """The cipher for the keys currently in settings (re-read on every call)."""
    from app.core.config import settings

    configured = settings.CREDENTIALS_ENCRYPTION_KEYS
    items = configured.split(",") if isinstance(configured, str) else configured
    keys = tuple(k.strip() for k in items if k.strip())
    if not keys:
        raise EncryptionNotConfiguredError()
    return _cipher_for(keys)
