"""core/crypto: sealing, tamper and misplacement detection, rotation, key settings."""

import base64
import warnings

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from app.core.config import Settings
from app.core.crypto import (
    DecryptionError,
    EncryptionNotConfiguredError,
    InvalidEncryptionKeyError,
    SecretCipher,
    generate_key,
    get_credentials_cipher,
)

PLAINTEXT = "sekrit-" + "x" * 40


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    cipher = SecretCipher([generate_key()])
    token = cipher.encrypt(PLAINTEXT, context="row:1")
    assert PLAINTEXT not in token
    assert PLAINTEXT.encode() not in base64.urlsafe_b64decode(token)
    assert cipher.decrypt(token, context="row:1") == PLAINTEXT
    # A fresh IV per encryption: equal plaintexts do not give equal ciphertexts.
    assert cipher.encrypt(PLAINTEXT, context="row:1") != token


def test_tampered_token_is_refused() -> None:
    cipher = SecretCipher([generate_key()])
    raw = bytearray(base64.urlsafe_b64decode(cipher.encrypt(PLAINTEXT, context="c")))
    raw[40] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError, match="cannot be decrypted with the configured keys"):
        cipher.decrypt(tampered, context="c")
    with pytest.raises(DecryptionError):
        cipher.decrypt("not a token at all ✓", context="c")


def test_wrong_key_and_wrong_context_are_refused() -> None:
    token = SecretCipher([generate_key()]).encrypt(PLAINTEXT, context="user-a:api_secret")
    with pytest.raises(DecryptionError):
        SecretCipher([generate_key()]).decrypt(token, context="user-a:api_secret")
    other_key_cipher = SecretCipher([generate_key()])
    token2 = other_key_cipher.encrypt(PLAINTEXT, context="user-a:api_secret")
    with pytest.raises(DecryptionError):
        other_key_cipher.decrypt(token2, context="user-b:api_secret")


def test_multi_key_decrypts_old_and_rotate_moves_to_first_key() -> None:
    old, new = generate_key(), generate_key()
    token = SecretCipher([old]).encrypt(PLAINTEXT, context="c")
    both = SecretCipher([new, old])
    assert both.decrypt(token, context="c") == PLAINTEXT
    rotated = both.rotate(token)
    assert SecretCipher([new]).decrypt(rotated, context="c") == PLAINTEXT
    with pytest.raises(DecryptionError):
        SecretCipher([old]).decrypt(rotated, context="c")
    # New encryptions use the first key only.
    assert SecretCipher([new]).decrypt(both.encrypt("y", context="c"), context="c") == "y"


def test_bad_key_configuration_errors_name_no_key() -> None:
    with pytest.raises(EncryptionNotConfiguredError, match="not configured"):
        SecretCipher([])
    good = generate_key()
    with pytest.raises(InvalidEncryptionKeyError) as info:
        SecretCipher([good, "hunter2-not-a-fernet-key"])
    assert "#2 of 2" in str(info.value)
    assert "hunter2" not in str(info.value) and good not in str(info.value)
    assert good not in repr(SecretCipher([good]))


def test_cipher_follows_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.config import settings

    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [])
    with pytest.raises(EncryptionNotConfiguredError):
        get_credentials_cipher()
    key = generate_key()
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [key])
    token = get_credentials_cipher().encrypt("v", context="c")
    assert Fernet(key.encode()).decrypt(token.encode())  # really under that key


BASE = {
    "SECRET_KEY": "a-real-secret-key-value",
    "POSTGRES_PASSWORD": "a-real-db-password",
    "FIRST_SUPERUSER_PASSWORD": "a-real-admin-password",
    "_env_file": None,
}


@pytest.mark.parametrize("keys", [None, "changethis", "not-a-fernet-key", "QUJD"])
def test_production_refuses_missing_default_or_malformed_keys(
    keys: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_ENCRYPTION_KEYS", raising=False)
    extra = {"CREDENTIALS_ENCRYPTION_KEYS": keys} if keys is not None else {}
    with pytest.raises(ValidationError, match="CREDENTIALS_ENCRYPTION_KEYS") as info:
        Settings(ENVIRONMENT="production", **BASE, **extra)  # type: ignore[arg-type]
    text = str(info.value)
    # The start-up error must not print the settings it was given.
    assert "a-real-secret-key-value" not in text and "a-real-db-password" not in text
    if keys:
        assert keys not in text


def test_production_accepts_real_keys_and_hides_them_from_repr() -> None:
    k1, k2 = generate_key(), generate_key()
    s = Settings(ENVIRONMENT="production", CREDENTIALS_ENCRYPTION_KEYS=f"{k1},{k2}", **BASE)  # type: ignore[arg-type]
    configured = s.CREDENTIALS_ENCRYPTION_KEYS
    assert configured == [k1, k2]
    assert k1 not in repr(s) and k2 not in repr(s)


def test_local_warns_about_malformed_key() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Settings(ENVIRONMENT="local", CREDENTIALS_ENCRYPTION_KEYS="nope-nope", **BASE)  # type: ignore[arg-type]
    messages = [str(w.message) for w in caught]
    assert any("not a valid Fernet key" in m for m in messages), messages
    assert not any("nope-nope" in m for m in messages)
