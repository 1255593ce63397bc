"""A small synchronous Python client for the simulator's /_admin API.

    admin = SimulatorAdmin("http://127.0.0.1:8900")
    account = admin.create_account({"AUD": "10000"})
    admin.fail_next(2, path="/pubapi/v2/latest")
    admin.set_price("BTC", bid="99000", ask="100000", last="99500")

Synchronous on purpose: tests (sync or async) call it between exchange calls, and the
server runs in its own thread or process, so a short blocking call is harmless.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import httpx

from app.exchange import jsoncodec
from app.exchange.simulator.engine import LatestCorruption
from app.exchange.simulator.faults import FaultKind

Number = Decimal | int | str


class SimulatorAdminError(Exception):
    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"simulator admin error {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class SimAccount:
    api_key: str
    api_secret: str
    read_only: bool = False

    def __repr__(self) -> str:
        return f"SimAccount(api_key={self.api_key!r}, read_only={self.read_only})"


def _num(value: Number | None) -> str | None:
    return None if value is None else str(value)


class SimulatorAdmin:
    def __init__(self, base_url: str, *, timeout_seconds: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_admin", timeout=timeout_seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "SimulatorAdmin":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(
        self, method: str, url: str, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        content = None if json is None else jsoncodec.dumps(json)
        headers = {"Content-Type": "application/json"} if content is not None else None
        response = self._http.request(method, url, content=content, headers=headers, params=query)
        body = jsoncodec.loads(response.content) if response.content else None
        if response.status_code >= 400:
            detail = body.get("detail", body) if isinstance(body, dict) else body
            raise SimulatorAdminError(response.status_code, detail)
        return body

    # --- lifecycle and configuration ------------------------------------------------

    def health(self) -> bool:
        return bool(self._call("GET", "/health")["status"] == "ok")

    def reset(self, **config_overrides: Any) -> dict[str, Any]:
        """Fresh state (accounts, orders, prices, faults, limits, log); optional overrides
        of the start-up configuration, e.g. `reset(rate_limit=100)`."""
        return dict(self._call("POST", "/reset", {"config": _plain(config_overrides)}))

    def config(self) -> dict[str, Any]:
        return dict(self._call("GET", "/config"))

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change runtime settings: fees, rate limit, tick mode, errors_as_http_200 ..."""
        return dict(self._call("PATCH", "/config", _plain(changes)))

    # --- accounts -------------------------------------------------------------------

    def create_account(
        self,
        balances: dict[str, Number] | None = None,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        read_only: bool = False,
    ) -> SimAccount:
        body = {
            "api_key": api_key,
            "api_secret": api_secret,
            "balances": {k: str(v) for k, v in (balances or {}).items()},
            "read_only": read_only,
        }
        data = self._call("POST", "/accounts", body)
        return SimAccount(data["api_key"], data["api_secret"], data["read_only"])

    def fund(self, api_key: str, coin: str, amount: Number) -> Decimal:
        data = self._call(
            "POST", f"/accounts/{api_key}/fund", {"coin": coin, "amount": str(amount)}
        )
        return Decimal(data["balance"])

    def account(self, api_key: str) -> dict[str, Any]:
        """Balances, availability, open orders and fills of an account (exact decimals)."""
        data = dict(self._call("GET", f"/accounts/{api_key}"))
        for field in ("balances", "available"):
            data[field] = {k: Decimal(v) for k, v in data[field].items()}
        return data

    # --- faults ---------------------------------------------------------------------

    def add_fault(
        self,
        kind: FaultKind,
        *,
        count: int | None = None,
        path: str | None = None,
        seconds: float | None = None,
        status: int | None = None,
        body: str | None = None,
        mode: Literal["before", "after"] | None = None,
        ratio: Number | None = None,
    ) -> int:
        rule = {
            "kind": kind,
            "count": count,
            "path": path,
            "seconds": None if seconds is None else str(seconds),
            "status": status,
            "body": body,
            "mode": mode,
            "ratio": _num(ratio),
        }
        return int(
            self._call("POST", "/faults", {k: v for k, v in rule.items() if v is not None})["id"]
        )

    def fail_next(
        self, count: int, *, path: str | None = None, status: int = 503, body: str | None = None
    ) -> int:
        """The next `count` matching requests get HTTP `status` (5xx)."""
        return self.add_fault("error", count=count, path=path, status=status, body=body)

    def hang_next(
        self,
        count: int,
        *,
        path: str | None = None,
        seconds: float | None = None,
        mode: Literal["before", "after"] = "before",
    ) -> int:
        """The next `count` matching requests get no answer for `seconds`; with
        mode="after" they are executed first (the ambiguous case for orders)."""
        return self.add_fault("hang", count=count, path=path, seconds=seconds, mode=mode)

    def rate_limit_next(self, count: int, *, path: str | None = None) -> int:
        return self.add_fault("rate_limit", count=count, path=path)

    def malformed_next(
        self, count: int, *, path: str | None = None, body: str | None = None
    ) -> int:
        return self.add_fault("malformed", count=count, path=path, body=body)

    def add_latency(
        self, seconds: float, *, path: str | None = None, count: int | None = None
    ) -> int:
        return self.add_fault("latency", seconds=seconds, path=path, count=count)

    def partial_fills(self, count: int, *, ratio: Number = "0.5") -> int:
        """The next `count` fills (instant or limit) fill only `ratio` of the amount."""
        return self.add_fault("partial_fill", count=count, ratio=ratio)

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # --- prices and coins -----------------------------------------------------------

    def tick(self, count: int = 1) -> int:
        return int(self._call("POST", "/tick", {"count": count})["ticks"])

    def prices(self) -> dict[str, dict[str, Decimal]]:
        data = self._call("GET", "/prices")["prices"]
        return {coin: {k: Decimal(v) for k, v in q.items()} for coin, q in data.items()}

    def set_price(
        self,
        coin: str,
        *,
        bid: Number | None = None,
        ask: Number | None = None,
        last: Number | None = None,
        mid: Number | None = None,
    ) -> dict[str, Decimal]:
        body = {"bid": _num(bid), "ask": _num(ask), "last": _num(last), "mid": _num(mid)}
        data = self._call(
            "PUT", f"/prices/{coin}", {k: v for k, v in body.items() if v is not None}
        )
        return {k: Decimal(data[k]) for k in ("bid", "ask", "last")}

    def add_coin(
        self,
        symbol: str,
        price: Number,
        *,
        volatility: float | None = None,
        spread: Number | None = None,
    ) -> None:
        body: dict[str, Any] = {"symbol": symbol, "price": str(price)}
        if volatility is not None:
            body["volatility"] = str(volatility)
        if spread is not None:
            body["spread"] = str(spread)
        self._call("POST", "/coins", body)

    def add_coins(self, count: int, *, prefix: str = "SIM") -> list[str]:
        return list(self._call("POST", "/coins/bulk", {"count": count, "prefix": prefix})["added"])

    def corrupt_latest(self, coin: str, mode: LatestCorruption) -> None:
        """Make `coin` missing or broken in /latest (and /latest/{coin}) until restored."""
        self._call("PUT", f"/latest/{coin}", {"mode": mode})

    def restore_latest(self, coin: str | None = None) -> None:
        self._call("DELETE", "/latest" if coin is None else f"/latest/{coin}")

    # --- observation ----------------------------------------------------------------

    def requests(
        self, path: str | None = None, *, outcome: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded exchange requests (oldest first): at, time, method, path, key, status, outcome."""
        return list(self._call("GET", "/requests", params={"path": path, "outcome": outcome}))

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))


def _plain(value: Any) -> Any:
    """Admin JSON carries exact numbers as strings (the exchange JSON encoder refuses floats)."""
    if isinstance(value, Decimal | float):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
