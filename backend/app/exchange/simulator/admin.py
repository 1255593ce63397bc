"""Admin API of the simulator, under /_admin (never rate limited, faulted or logged).

Numbers in admin answers are strings (exact decimals). Bad input gets a 4xx `detail`.
See the package docstring for the list of endpoints; `admin_client.SimulatorAdmin` wraps
them for Python callers.
"""

import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from app.exchange import jsoncodec
from app.exchange.jsoncodec import decimal_text
from app.exchange.simulator.config import (
    RUNTIME_FIELDS,
    AccountSpec,
    CoinSpec,
    SimulatorConfig,
    Symbol,
)
from app.exchange.simulator.engine import LatestCorruption, SimError
from app.exchange.simulator.faults import FaultRule
from app.exchange.simulator.state import SimulatorState


class ResetRequest(BaseModel):
    # Overrides merged onto the configuration the simulator was started with.
    config: dict[str, Any] = {}


class NewAccount(BaseModel):
    api_key: str | None = Field(default=None, min_length=1, max_length=200)
    api_secret: str | None = Field(default=None, min_length=1, max_length=500)
    balances: dict[Symbol, Decimal] = {}
    read_only: bool = False


class FundRequest(BaseModel):
    coin: Symbol
    amount: Decimal


class TickRequest(BaseModel):
    count: int = Field(default=1, ge=1, le=100_000)


class PriceUpdate(BaseModel):
    bid: Decimal | None = Field(default=None, gt=0)
    ask: Decimal | None = Field(default=None, gt=0)
    last: Decimal | None = Field(default=None, gt=0)
    mid: Decimal | None = Field(default=None, gt=0)


class BulkCoins(BaseModel):
    count: int = Field(ge=1, le=5000)
    prefix: str = Field(default="SIM", pattern=r"^[A-Za-z]{1,8}$")


class CorruptionRequest(BaseModel):
    mode: LatestCorruption


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # settings such as tick_seconds stay JSON numbers
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _out(value: Any, status_code: int = 200) -> Response:
    return Response(
        jsoncodec.dumps(_plain(value)), status_code=status_code, media_type="application/json"
    )


@contextmanager
def _sim_errors() -> Iterator[None]:
    try:
        yield
    except SimError as exc:
        status_code = exc.status if 400 <= exc.status < 500 else 400
        raise HTTPException(status_code, exc.message) from None


def build_admin_router(state: SimulatorState) -> APIRouter:
    router = APIRouter(tags=["simulator admin"])

    @router.get("/health")
    def health() -> Response:
        return _out({"status": "ok", "started": state.started.isoformat()})

    @router.post("/reset")
    def reset(request: ResetRequest | None = None) -> Response:
        overrides = request.config if request else {}
        if overrides:
            merged = state.initial_config.model_dump()
            merged.update(overrides)
            try:
                config = SimulatorConfig.model_validate(merged)
            except ValidationError as exc:
                raise HTTPException(
                    422, [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]
                ) from None
            state.reset(config)
        else:
            state.reset()
        return _out(_config_view(state))

    @router.get("/config")
    def get_config() -> Response:
        return _out(_config_view(state))

    @router.patch("/config")
    def patch_config(changes: dict[str, Any]) -> Response:
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise HTTPException(
                422,
                f"not changeable at runtime: {sorted(unknown)}; allowed: {sorted(RUNTIME_FIELDS)}",
            )
        try:
            config = SimulatorConfig.model_validate({**state.config.model_dump(), **changes})
        except ValidationError as exc:
            raise HTTPException(
                422, [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]
            ) from None
        state.engine.reconfigure(config)
        return _out(_config_view(state))

    @router.post("/accounts", status_code=status.HTTP_201_CREATED)
    def create_account(request: NewAccount) -> Response:
        spec = AccountSpec(
            api_key=request.api_key or "sim-" + secrets.token_hex(12),
            api_secret=request.api_secret or secrets.token_hex(32),
            balances=request.balances,
            read_only=request.read_only,
        )
        with _sim_errors():
            state.engine.create_account(spec)
        return _out(
            {"api_key": spec.api_key, "api_secret": spec.api_secret, "read_only": spec.read_only},
            201,
        )

    @router.get("/accounts/{api_key}")
    def get_account(api_key: str) -> Response:
        engine = state.engine
        with engine.lock:
            account = engine.account(api_key)
            if account is None:
                raise HTTPException(404, "unknown account")
            coins = sorted(account.balances)
            return _out(
                {
                    "api_key": account.api_key,
                    "read_only": account.read_only,
                    "last_nonce": account.last_nonce,
                    "balances": {c: account.balances[c] for c in coins},
                    "available": {c: engine.available(api_key, c) for c in coins},
                    "open_orders": [
                        {
                            "id": o.id,
                            "side": o.side,
                            "coin": o.coin,
                            "amount": o.amount,
                            "rate": o.rate,
                        }
                        for o in engine.orders.values()
                        if o.api_key == api_key
                    ],
                    "fills": [
                        {
                            "side": f.side,
                            "coin": f.coin,
                            "amount": f.amount,
                            "rate": f.rate,
                            "fee": f.fee,
                            "kind": f.kind,
                            "order_id": f.order_id,
                        }
                        for f in engine.fills
                        if f.api_key == api_key
                    ],
                }
            )

    @router.post("/accounts/{api_key}/fund")
    def fund(api_key: str, request: FundRequest) -> Response:
        with _sim_errors():
            balance = state.engine.fund(api_key, request.coin, request.amount)
        return _out({"coin": request.coin, "balance": balance})

    @router.get("/faults")
    def list_faults() -> Response:
        return _out(state.faults.list())

    @router.post("/faults", status_code=status.HTTP_201_CREATED)
    def add_fault(rule: FaultRule) -> Response:
        return _out({"id": state.faults.add(rule)}, 201)

    @router.delete("/faults")
    def clear_faults() -> Response:
        state.faults.clear()
        return _out({"cleared": True})

    @router.post("/tick")
    def tick(request: TickRequest | None = None) -> Response:
        return _out({"ticks": state.engine.tick(request.count if request else 1)})

    @router.get("/prices")
    def prices() -> Response:
        engine = state.engine
        engine.advance_clock()
        with engine.lock:
            quotes = engine.market.quotes()
            return _out(
                {
                    "ticks": engine.market.ticks,
                    "prices": {
                        s: {"bid": q.bid, "ask": q.ask, "last": q.last}
                        for s, q in sorted(quotes.items())
                    },
                }
            )

    @router.put("/prices/{coin}")
    def set_price(coin: str, update: PriceUpdate) -> Response:
        with _sim_errors():
            quote = state.engine.set_quote(coin.upper(), **update.model_dump())
        return _out({"coin": coin.upper(), "bid": quote.bid, "ask": quote.ask, "last": quote.last})

    @router.post("/coins", status_code=status.HTTP_201_CREATED)
    def add_coin(spec: CoinSpec) -> Response:
        with _sim_errors():
            state.engine.add_coin(spec)
        return _out({"added": [spec.symbol]}, 201)

    @router.post("/coins/bulk", status_code=status.HTTP_201_CREATED)
    def add_coins(request: BulkCoins) -> Response:
        added = state.engine.add_random_coins(request.count, request.prefix.upper())
        return _out({"added": added}, 201)

    @router.put("/latest/{coin}")
    def corrupt_latest(coin: str, request: CorruptionRequest) -> Response:
        with _sim_errors():
            state.engine.corrupt_latest(coin.upper(), request.mode)
        return _out({"coin": coin.upper(), "mode": request.mode})

    @router.delete("/latest/{coin}")
    def restore_latest_coin(coin: str) -> Response:
        state.engine.restore_latest(coin.upper())
        return _out({"restored": coin.upper()})

    @router.delete("/latest")
    def restore_latest() -> Response:
        state.engine.restore_latest()
        return _out({"restored": "all"})

    @router.get("/requests")
    def requests(
        path: Annotated[str | None, Query(description="exact request path")] = None,
        outcome: str | None = None,
    ) -> Response:
        records = [
            r.as_dict()
            for r in state.log.list()
            if (path is None or r.path == path) and (outcome is None or r.outcome == outcome)
        ]
        return _out(records)

    @router.delete("/requests")
    def clear_requests() -> Response:
        state.log.clear()
        return _out({"cleared": True})

    @router.get("/stats")
    def stats() -> Response:
        records = state.log.list()
        engine = state.engine
        with engine.lock:
            return _out(
                {
                    "requests": len(records),
                    "by_outcome": dict(Counter(r.outcome for r in records)),
                    "by_path": dict(Counter(r.path for r in records)),
                    "ticks": engine.market.ticks,
                    "coins": len(engine.market.symbols()),
                    "accounts": len(engine.accounts),
                    "open_orders": len(engine.orders),
                    "fills": len(engine.fills),
                }
            )

    return router


def _config_view(state: SimulatorState) -> dict[str, Any]:
    view = state.config.model_dump(mode="json", exclude={"coins", "accounts", "replay"})
    with state.engine.lock:
        view["coins"] = state.engine.market.symbols()
    return view
