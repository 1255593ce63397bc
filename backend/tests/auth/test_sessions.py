"""Sessions: refresh rotation in an HttpOnly/Secure/SameSite cookie, reuse detection that
ends the whole family, logout, the sessions list, sign out everywhere, and a password
change that ends the other sessions."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.auth.conftest import API, Account


def _login(client: TestClient, acc: Account) -> dict[str, str]:
    r = client.post(
        f"{API}/login/access-token", data={"username": acc.email, "password": acc.password}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_refresh_cookie_attributes(https_client: TestClient, account: Account) -> None:
    r = https_client.post(
        f"{API}/login/access-token", data={"username": account.email, "password": account.password}
    )
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("omc_refresh=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", f"Path={API}/login"):
        assert attribute.lower() in cookie.lower(), attribute
    assert "refresh" not in r.json() and r.json()["expires_in"] <= 3600


def test_rotation_and_reuse_detection(https_client: TestClient, account: Account) -> None:
    c = https_client
    first_access = _login(c, account)
    first_refresh = c.cookies.get("omc_refresh")
    assert first_refresh

    r = c.post(f"{API}/login/refresh")
    assert r.status_code == 200
    second_refresh = c.cookies.get("omc_refresh")
    assert second_refresh and second_refresh != first_refresh
    second_access = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert c.get(f"{API}/users/me", headers=second_access).status_code == 200

    # The stolen, already rotated token comes back: the whole family ends.
    c.cookies.clear()
    r = c.post(f"{API}/login/refresh", headers={"Cookie": f"omc_refresh={first_refresh}"})
    assert r.status_code == 401
    c.cookies.clear()
    r = c.post(f"{API}/login/refresh", headers={"Cookie": f"omc_refresh={second_refresh}"})
    assert r.status_code == 401, "the newest token died too"
    for headers in (first_access, second_access):
        assert c.get(f"{API}/users/me", headers=headers).status_code == 401

    fresh = _login(c, account)
    events = c.get(f"{API}/security/login-events", headers=fresh).json()["data"]
    assert "refresh_reuse" in [e["result"] for e in events]


def test_refresh_without_cookie_and_logout(https_client: TestClient, account: Account) -> None:
    c = https_client
    assert c.post(f"{API}/login/refresh").status_code == 401
    headers = _login(c, account)
    r = c.post(f"{API}/login/logout")
    assert r.status_code == 200
    assert 'omc_refresh=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert c.get(f"{API}/users/me", headers=headers).status_code == 401
    assert c.post(f"{API}/login/refresh").status_code == 401


def test_sessions_page_and_sign_out(
    client: TestClient, https_client: TestClient, account: Account
) -> None:
    laptop = _login(client, account)
    phone = _login(client, account)
    listed = client.get(f"{API}/security/sessions", headers=laptop).json()
    assert listed["count"] == 2
    assert [s["current"] for s in listed["data"]].count(True) == 1
    phone_id = next(s["id"] for s in listed["data"] if not s["current"])

    assert client.delete(f"{API}/security/sessions/{phone_id}", headers=laptop).status_code == 200
    assert client.get(f"{API}/users/me", headers=phone).status_code == 401
    assert client.get(f"{API}/users/me", headers=laptop).status_code == 200
    assert client.delete(f"{API}/security/sessions/{phone_id}", headers=laptop).status_code == 404

    tablet = _login(https_client, account)
    r = client.post(f"{API}/security/sessions/revoke-all", headers=laptop)
    assert r.status_code == 200
    for headers in (laptop, tablet):
        assert client.get(f"{API}/users/me", headers=headers).status_code == 401
    assert https_client.post(f"{API}/login/refresh").status_code == 401


def test_other_users_session_is_404(client: TestClient, account: Account, db: Session) -> None:
    from tests.utils import create_random_user

    other_email, other_pw = create_random_user(db)
    mine = _login(client, account)
    theirs = _login(client, Account(other_email, other_pw))
    their_id = client.get(f"{API}/security/sessions", headers=theirs).json()["data"][0]["id"]
    assert client.delete(f"{API}/security/sessions/{their_id}", headers=mine).status_code == 404
    assert client.get(f"{API}/users/me", headers=theirs).status_code == 200


def test_password_change_ends_other_sessions(client: TestClient, account: Account) -> None:
    here = _login(client, account)
    elsewhere = _login(client, account)
    r = client.patch(
        f"{API}/users/me/password",
        headers=here,
        json={"current_password": account.password, "new_password": "another-pw-123"},
    )
    assert r.status_code == 200
    assert client.get(f"{API}/users/me", headers=here).status_code == 200
    assert client.get(f"{API}/users/me", headers=elsewhere).status_code == 401
