"""Coinspot request signing: hex HMAC-SHA512 of the exact POST body bytes, keyed by the secret.

Pure functions, no I/O: the client signs the bytes it sends and the simulator verifies
the bytes it received with the same primitive.
"""

import hashlib
import hmac


def sign(body: bytes, secret: str | bytes) -> str:
    """Return the lowercase hex HMAC-SHA512 of `body` keyed with `secret` (UTF-8 if text)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha512).hexdigest()


def verify(body: bytes, secret: str | bytes, signature: str) -> bool:
    """Constant-time check that `signature` (hex, any case) signs `body` with `secret`."""
    return hmac.compare_digest(sign(body, secret), signature.strip().lower())
