"""Secrets never appear in reprs, exceptions or logs."""

import logging
import traceback

import pytest

from app.exchange.client import CoinspotClient
from app.exchange.errors import AuthenticationError, OrderStatusUnknownError
from app.exchange.simulator import RunningSimulator, SimAccount
from app.exchange.transport import Credentials
from tests.exchange.conftest import ClientFactory

pytestmark = pytest.mark.anyio

KEY = "visible-key-0f3a9c"
SECRET = "super-secret-value-5be1d7"


def _exception_text(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    parts.extend(repr(value) for value in vars(error).values())
    return "\n".join(parts)


def test_reprs_hide_the_secret_and_the_key() -> None:
    client = CoinspotClient("http://127.0.0.1:9", api_key=KEY, api_secret=SECRET)
    credentials = Credentials(KEY, SECRET)
    for text in (repr(client), str(client), repr(credentials), str(credentials)):
        assert SECRET not in text
        assert KEY not in text
    assert client.key_fingerprint is not None
    assert client.key_fingerprint in repr(client)


def test_credentials_must_be_complete() -> None:
    with pytest.raises(ValueError):
        CoinspotClient("http://127.0.0.1:9", api_key=KEY)
    with pytest.raises(ValueError):
        Credentials("", SECRET)


async def test_errors_and_logs_never_hold_the_secret(
    simulator: RunningSimulator,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator.admin.create_account({"AUD": "1000"}, api_key=KEY, api_secret=SECRET)
    simulator.admin.fail_next(1, path="/api/v2/ro/my/balances")
    simulator.admin.hang_next(1, path="/api/v2/my/buy/now", seconds=1.5)
    texts: list[str] = []
    async with make_client(SimAccount(KEY, SECRET), timeout_seconds=0.5) as client:
        await client.balances()  # after one retried 5xx
        with pytest.raises(OrderStatusUnknownError) as unknown:
            await client.buy_now("BTC", "0.001")
        texts += [_exception_text(unknown.value), repr(client)]
    async with make_client(SimAccount(KEY, "wrong-" + SECRET)) as wrong:
        with pytest.raises(AuthenticationError) as auth:
            await wrong.balances()
        texts.append(_exception_text(auth.value))
    for text in [*texts, caplog.text]:
        assert SECRET not in text
    # The key is an identifier, not a secret, but it has no business in logs either.
    assert KEY not in caplog.text
    assert "sign" not in " ".join(
        r.getMessage().lower() for r in caplog.records if r.name.startswith("app.")
    )
    assert "exchange read failed, retrying" in caplog.text


def test_empty_credentials_are_refused() -> None:
    with pytest.raises(ValueError):
        CoinspotClient("http://127.0.0.1:9", api_key="", api_secret="")
