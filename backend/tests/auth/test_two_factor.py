"""TOTP: enrolment (QR + key, confirm), login with a code, replay refused, recovery codes
(single use, stored hashed), disabling, step-up on Coinspot keys, the 2FA policy."""

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.core.db import engine
from tests.auth.conftest import API, Account
from tests.utils import create_random_user, enable_two_factor, totp_code, user_token_headers

CREDS = f"{API}/credentials/coinspot"
KEYS = {"label": "main", "api_key": "a" * 32, "api_secret": "s" * 40}


def _password_step(client: TestClient, acc: Account) -> str:
    r = client.post(
        f"{API}/login/access-token", data={"username": acc.email, "password": acc.password}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["two_factor_required"] is True
    assert body["access_token"] is None, "no token for the password alone"
    assert "omc_refresh" not in r.headers.get("set-cookie", "")
    return str(body["mfa_token"])


def _second_step(client: TestClient, mfa: str, code: str) -> dict[str, str]:
    r = client.post(f"{API}/login/two-factor", json={"mfa_token": mfa, "code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_enrol_shows_qr_and_key_and_stores_no_plain_secret(
    client: TestClient, account: Account
) -> None:
    headers = user_token_headers(client, account.email, account.password)
    r = client.post(f"{API}/security/two-factor/setup", headers=headers)
    assert r.status_code == 200
    setup = r.json()
    assert setup["qr_svg_data_uri"].startswith("data:image/svg+xml")
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={setup['secret']}" in setup["otpauth_uri"]
    status = client.get(f"{API}/security/two-factor", headers=headers).json()
    assert status["enabled"] is False and status["pending_setup"] is True

    wrong = f"{(int(pyotp.TOTP(setup['secret']).now()) + 1) % 1000000:06d}"
    r = client.post(f"{API}/security/two-factor/confirm", headers=headers, json={"code": wrong})
    assert r.status_code == 400
    code = pyotp.TOTP(setup["secret"]).now()
    r = client.post(f"{API}/security/two-factor/confirm", headers=headers, json={"code": code})
    assert r.status_code == 200
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    status = client.get(f"{API}/security/two-factor", headers=headers).json()
    assert status == {
        "enabled": True,
        "pending_setup": False,
        "recovery_codes_left": 10,
        "required_by_policy": False,
    }
    with engine.connect() as conn:
        stored = [str(v) for (v,) in conn.execute(text("SELECT secret_encrypted FROM user_totp"))]
        hashes = [str(v[0]) for v in conn.execute(text("SELECT code_hash FROM user_recovery_code"))]
    assert all(setup["secret"] not in s for s in stored)
    assert not set(codes) & set(hashes)
    assert not {c.replace("-", "") for c in codes} & set(hashes)
    # Enrolling again while on is refused.
    assert client.post(f"{API}/security/two-factor/setup", headers=headers).status_code == 409


def test_login_with_code_and_no_replay(client: TestClient, account_2fa: Account) -> None:
    mfa = _password_step(client, account_2fa)
    r = client.post(f"{API}/login/two-factor", json={"mfa_token": mfa, "code": "12345x"})
    assert r.status_code == 400
    code = totp_code(account_2fa.secret, account_2fa.email)
    headers = _second_step(client, mfa, code)
    assert client.get(f"{API}/users/me", headers=headers).json()["email"] == account_2fa.email
    # The same code again (a new password step) is refused: codes are single-use.
    mfa = _password_step(client, account_2fa)
    r = client.post(f"{API}/login/two-factor", json={"mfa_token": mfa, "code": code})
    assert r.status_code == 400
    # An mfa_token is not an access token.
    r = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {mfa}"})
    assert r.status_code == 401


def test_recovery_code_works_once(client: TestClient, account_2fa: Account) -> None:
    code = account_2fa.recovery_codes[0]
    headers = _second_step(client, _password_step(client, account_2fa), code.upper())
    status = client.get(f"{API}/security/two-factor", headers=headers).json()
    assert status["recovery_codes_left"] == 9
    mfa = _password_step(client, account_2fa)
    r = client.post(f"{API}/login/two-factor", json={"mfa_token": mfa, "code": code})
    assert r.status_code == 400
    events = client.get(f"{API}/security/login-events", headers=headers).json()["data"]
    assert "recovery_code_used" in [e["result"] for e in events]


def test_disable_needs_password_and_code(client: TestClient, account_2fa: Account) -> None:
    acc = account_2fa
    headers = _second_step(client, _password_step(client, acc), totp_code(acc.secret, acc.email))
    url = f"{API}/security/two-factor/disable"
    r = client.post(url, headers=headers, json={"password": "wrong-pass", "code": "123456"})
    assert r.status_code == 400 and r.json()["detail"] == "Incorrect password"
    r = client.post(url, headers=headers, json={"password": acc.password, "code": "99999x"})
    assert r.status_code == 400
    code = totp_code(acc.secret, acc.email)
    r = client.post(url, headers=headers, json={"password": acc.password, "code": code})
    assert r.status_code == 200
    # Back to password-only login.
    r = client.post(
        f"{API}/login/access-token", data={"username": acc.email, "password": acc.password}
    )
    assert r.json()["access_token"] and r.json()["two_factor_required"] is False


def _age_step_up(email: str, minutes: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE user_session SET stepped_up_at = stepped_up_at - make_interval(mins => :m) "
                'WHERE user_id = (SELECT id FROM "user" WHERE email = :e)'
            ),
            {"m": minutes, "e": email},
        )


def test_coinspot_keys_need_two_factor(client: TestClient, account: Account) -> None:
    headers = user_token_headers(client, account.email, account.password)
    r = client.post(CREDS, headers=headers, json=KEYS)
    assert r.status_code == 403
    assert r.headers["X-Step-Up-Required"] == "enrol"
    assert "two-factor" in r.json()["detail"]


def test_coinspot_keys_need_a_fresh_code(client: TestClient, account_2fa: Account) -> None:
    acc = account_2fa
    headers = _second_step(client, _password_step(client, acc), totp_code(acc.secret, acc.email))
    _age_step_up(acc.email, 10)  # the login's code is now older than the step-up window
    for method in ("post", "put"):
        r = client.request(method, CREDS, headers=headers, json=KEYS)
        assert r.status_code == 403, method
        assert r.headers["X-Step-Up-Required"] == "totp"
    assert client.get(CREDS, headers=headers).status_code == 404, "reading needs no step-up"

    r = client.post(f"{API}/security/step-up", headers=headers, json={"code": "000000x"})
    assert r.status_code == 400
    r = client.post(
        f"{API}/security/step-up",
        headers=headers,
        json={"code": totp_code(acc.secret, acc.email)},
    )
    assert r.status_code == 200 and r.json()["valid_until"]
    assert client.post(CREDS, headers=headers, json=KEYS).status_code == 201
    assert client.put(CREDS, headers=headers, json={"label": "renamed"}).status_code == 200
    _age_step_up(acc.email, 10)
    assert client.put(CREDS, headers=headers, json={"label": "again"}).status_code == 403
    assert client.delete(CREDS, headers=headers).status_code == 200, "removing keys stays open"


def test_superuser_can_require_two_factor(
    client: TestClient, db: Session, account: Account
) -> None:
    admin_email, admin_pw = create_random_user(db, is_superuser=True)
    admin = user_token_headers(client, admin_email, admin_pw)
    r = client.put(f"{API}/security/policy", headers=admin, json={"require_two_factor": True})
    assert r.status_code == 409, "the superuser must have 2FA first"
    enable_two_factor(client, admin, admin_email)
    user = user_token_headers(client, account.email, account.password)
    r = client.put(f"{API}/security/policy", headers=user, json={"require_two_factor": True})
    assert r.status_code == 403
    r = client.put(f"{API}/security/policy", headers=admin, json={"require_two_factor": True})
    assert r.status_code == 200
    try:
        r = client.get(CREDS, headers=user)
        assert r.status_code == 403 and "required for every account" in r.json()["detail"]
        assert client.get(f"{API}/users/me", headers=user).status_code == 200
        status = client.get(f"{API}/security/two-factor", headers=user).json()
        assert status["required_by_policy"] is True
        enable_two_factor(client, user, account.email)
        assert client.get(CREDS, headers=user).status_code == 404, "enrolled: let through"
    finally:
        r = client.put(f"{API}/security/policy", headers=admin, json={"require_two_factor": False})
        assert r.status_code == 200
