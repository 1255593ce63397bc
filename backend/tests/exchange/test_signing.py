"""Signing known-answer tests and the exact-bytes JSON the client signs."""

from decimal import Decimal

import pytest

from app.exchange import jsoncodec
from app.exchange.signing import sign, verify

SECRET = "omc-test-secret-0123456789abcdef"
BODY = b'{"cointype":"BTC","amount":0.01,"amounttype":"coin","nonce":1700000000000}'
# Computed independently: printf '%s' BODY | openssl dgst -sha512 -hmac SECRET
BODY_SIGN = (
    "8b1a9675f24a0af281eb0e7fc6888988429dac4861ea05e1aac71216e025df1d"
    "6012a0fa1a80140715e6bef87a9a9fca72d00ffe85ef1fd712261d6572b19fb5"
)
NONCE_ONLY_SIGN = (
    "86d99196af6708e93f869becfb808c96939c5a9c977fa6147870a8cc1e6e9f51"
    "150c61efc1eb6d4729e6385e9b58a02fa46d0d822b9689d91661db60566c3288"
)


def test_sign_known_answer_order_body() -> None:
    assert sign(BODY, SECRET) == BODY_SIGN


def test_sign_known_answer_nonce_only_body() -> None:
    assert sign(b'{"nonce":1}', SECRET) == NONCE_ONLY_SIGN


def test_sign_rfc4231_case_2() -> None:
    # RFC 4231 test case 2, HMAC-SHA-512.
    expected = (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    )
    assert sign(b"what do ya want for nothing?", b"Jefe") == expected
    assert sign(b"what do ya want for nothing?", "Jefe") == expected


def test_verify_accepts_any_case_and_rejects_changes() -> None:
    assert verify(BODY, SECRET, BODY_SIGN.upper())
    assert not verify(BODY + b" ", SECRET, BODY_SIGN)
    assert not verify(BODY, SECRET + "x", BODY_SIGN)
    assert not verify(BODY, SECRET, BODY_SIGN[:-1] + "0")


def test_client_body_bytes_are_exactly_what_was_signed() -> None:
    params = {
        "cointype": "BTC",
        "amount": Decimal("0.01"),
        "amounttype": "coin",
        "nonce": 1700000000000,
    }
    body = jsoncodec.dumps(params).encode()
    assert body == BODY
    assert sign(body, SECRET) == BODY_SIGN


def test_decimals_survive_a_round_trip_exactly() -> None:
    value = {
        "shib": Decimal("0.00001234"),
        "tiny": Decimal("1E-8"),
        "big": Decimal("123456789012345.123456789"),
        "list": [Decimal("-0.5"), 3, True, None, "ü"],
    }
    text = jsoncodec.dumps(value)
    assert '"tiny":0.00000001' in text
    assert "E" not in text
    assert jsoncodec.loads(text) == value


@pytest.mark.parametrize("bad", [0.1, Decimal("NaN"), Decimal("Infinity"), object()])
def test_encoder_refuses_floats_and_non_finite(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        jsoncodec.dumps({"amount": bad})


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', '{"a": -Infinity}'])
def test_decoder_refuses_non_finite_literals(text: str) -> None:
    with pytest.raises(ValueError):
        jsoncodec.loads(text)
