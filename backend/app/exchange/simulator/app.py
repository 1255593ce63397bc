"""The simulator's HTTP face: `create_simulator_app(config)` builds the ASGI app.

Every exchange request goes through the same pipeline: clock tick (clock mode) ->
fault latency -> fault/real rate limiting -> fault 5xx -> fault hang (before) ->
routing, authentication (key, sign, nonce, permission) and the handler -> fault hang
(after) / malformed body. Each request is recorded in the request log.

Error messages are distinct on purpose (callers tell these apart):
  "Invalid API key" / "Invalid API key: missing key header"     HTTP 401
  "Invalid signature"                                          HTTP 401
  "Invalid nonce: ..."                                         HTTP 401
  "Permission denied: this API key is read-only"               HTTP 403
  "Rate limit exceeded: ..."                                   HTTP 429 (+ Retry-After)
  "Insufficient funds: ..." / "Invalid <field>: ..." / "Coin not found: X" /
  "Order not found: ..." / "Market not supported ..."          HTTP 400
With `errors_as_http_200` every 4xx body above comes with HTTP 200 instead.
"""

import asyncio
import math
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from app.exchange import jsoncodec
from app.exchange.signing import verify
from app.exchange.simulator.admin import build_admin_router
from app.exchange.simulator.api import Call, private_route, public_call
from app.exchange.simulator.config import SimulatorConfig
from app.exchange.simulator.engine import SimError
from app.exchange.simulator.faults import DEFAULT_ERROR_BODY, DEFAULT_MALFORMED_BODY
from app.exchange.simulator.state import SimulatorState

JSON = "application/json"


class _Outcome(Exception):
    """Short-circuits the pipeline with a finished response."""

    def __init__(self, response: Response, outcome: str) -> None:
        self.response = response
        self.outcome = outcome


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(jsoncodec.dumps(body), status_code=status, media_type=JSON, headers=headers)


class Pipeline:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        if self.state.config.errors_as_http_200 and 400 <= status < 500:
            status = 200
        return _json({"status": "error", "message": message}, status, headers)

    async def handle(self, request: Request, rest: str, *, public: bool) -> Response:
        state = self.state
        # A request that outlives a reset (e.g. a hang) must not land in the new log.
        log = state.log
        arrival, arrival_wall = state.now(), datetime.now(UTC)
        path = request.url.path
        key = request.headers.get("key")
        client = request.client.host if request.client else None
        outcome = "ok"
        try:
            response = await self._run(request, rest, public, key, client, arrival)
            if response.status_code != 200 or bytes(response.body).startswith(b'{"status":"error"'):
                outcome = "error"
        except _Outcome as finished:
            response, outcome = finished.response, finished.outcome
        state.record(
            log,
            arrival=arrival,
            arrival_wall=arrival_wall,
            method=request.method,
            path=path,
            key=key,
            client=client,
            status=response.status_code,
            outcome=outcome,
        )
        return response

    async def _run(
        self,
        request: Request,
        rest: str,
        public: bool,
        key: str | None,
        client: str | None,
        arrival: float,
    ) -> Response:
        state = self.state
        engine = state.engine
        config = state.config
        engine.advance_clock()
        decision = state.faults.decide(request.url.path)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.rate_limited:
            raise _Outcome(
                self._error(429, "Rate limit exceeded (simulated)", {"Retry-After": "1"}),
                "fault_rate_limit",
            )
        bucket = f"key:{key}" if (key and not public) else f"ip:{client}"
        wait = state.limits.allow(
            bucket, config.rate_limit, config.rate_limit_period_seconds, arrival
        )
        if wait is not None:
            message = (
                f"Rate limit exceeded: {config.rate_limit} requests per "
                f"{config.rate_limit_period_seconds:g}s"
            )
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            raise _Outcome(self._error(429, message, headers), "rate_limited")
        if decision.error is not None:
            rule = decision.error
            body = rule.body if rule.body is not None else DEFAULT_ERROR_BODY
            media = JSON if body.lstrip().startswith("{") else "text/html"
            raise _Outcome(Response(body, status_code=rule.status, media_type=media), "fault_error")
        hang_seconds = 0.0
        if decision.hang is not None:
            hang_seconds = (
                decision.hang.seconds if decision.hang.seconds is not None else config.hang_seconds
            )
            if decision.hang.mode == "before":
                await asyncio.sleep(hang_seconds)
                raise _Outcome(Response(status_code=504), "hang")

        response = self._public(rest) if public else await self._private(request, rest, key)

        if decision.hang is not None:
            await asyncio.sleep(hang_seconds)
            raise _Outcome(response, "hang_after")
        if decision.malformed is not None:
            custom = decision.malformed.body
            text = custom if custom is not None else DEFAULT_MALFORMED_BODY
            raise _Outcome(Response(text, status_code=200, media_type=JSON), "malformed")
        return response

    def _public(self, rest: str) -> Response:
        engine = self.state.engine
        try:
            with engine.lock:
                body = public_call(engine, rest)
        except SimError as exc:
            return self._error(exc.status, exc.message)
        return _json({"status": "ok", "message": "ok", **body})

    async def _private(self, request: Request, rest: str, key: str | None) -> Response:
        engine = self.state.engine
        route = private_route(rest)
        if route is None:
            return self._error(404, "Not found")
        raw = await request.body()
        if not key:
            return self._error(401, "Invalid API key: missing key header")
        account = engine.account(key)
        if account is None:
            return self._error(401, "Invalid API key")
        signature = request.headers.get("sign")
        if not signature or not verify(raw, account.api_secret, signature):
            return self._error(401, "Invalid signature")
        try:
            payload = jsoncodec.loads(raw)
        except ValueError:
            return self._error(400, "Invalid request body: not JSON")
        if not isinstance(payload, dict):
            return self._error(400, "Invalid request body: expected a JSON object")
        nonce = payload.get("nonce")
        if not isinstance(nonce, int) or isinstance(nonce, bool):
            return self._error(401, "Invalid nonce: missing or not an integer")
        if not engine.accept_nonce(account, nonce):
            return self._error(
                401, "Invalid nonce: must be greater than the previous request's nonce"
            )
        if route.full_access and account.read_only:
            return self._error(403, "Permission denied: this API key is read-only")
        call = Call(engine, account, payload, route.arg, dict(request.query_params))
        try:
            with engine.lock:
                body = route.handler(call)
        except SimError as exc:
            return self._error(exc.status, exc.message)
        return _json({"status": "ok", "message": "ok", **body})


def create_simulator_app(config: SimulatorConfig | None = None) -> FastAPI:
    """A Coinspot API v2 look-alike, with its admin API under /_admin (docs: /_admin/docs)."""
    state = SimulatorState(config or SimulatorConfig())
    app = FastAPI(
        title="Coinspot simulator",
        docs_url="/_admin/docs",
        redoc_url=None,
        openapi_url="/_admin/openapi.json",
    )
    app.state.simulator = state
    pipeline = Pipeline(state)
    app.include_router(build_admin_router(state), prefix="/_admin")

    @app.get("/pubapi/v2/{rest:path}", include_in_schema=False)
    async def public_api(rest: str, request: Request) -> Response:
        return await pipeline.handle(request, rest, public=True)

    @app.post("/api/v2/{rest:path}", include_in_schema=False)
    async def private_api(rest: str, request: Request) -> Response:
        return await pipeline.handle(request, rest, public=False)

    return app
