"""A local stand-in for Coinspot: the same API v2 paths, JSON shapes, signing and errors.

Tests, the offline demo and paper-trading rehearsals talk to it over real HTTP. It
imports nothing from `app.core` (no settings, no database) so it runs standalone.

Running it
----------
    cd backend
    uv run python -m app.exchange.simulator --port 8900            # prices tick every 300 s
    uv run python -m app.exchange.simulator --port 8900 --tick-mode manual \\
        --account demo-key:demo-secret --fund AUD=100000 --extra-coins 500

In-process (tests): `run_simulator(config)` is a context manager that serves it from a
background thread on a free loopback port and yields `.base_url`, `.admin` (Python admin
client) and `.state`. `tests/exchange/conftest.py` has the `simulator` fixture:

    @pytest.fixture(scope="session")
    def simulator_server():
        with run_simulator() as sim:
            yield sim

    @pytest.fixture
    def simulator(simulator_server):
        simulator_server.admin.reset()       # fresh accounts, prices, faults, limits, log
        return simulator_server

`create_simulator_app(SimulatorConfig(...))` gives the bare ASGI app.

What it serves (same as Coinspot)
---------------------------------
GET  /pubapi/v2/latest, /latest/{coin}[/{market}], /buyprice/{coin}[/{market}],
     /sellprice/{coin}[/{market}], /orders/open/{coin}, /orders/completed/{coin}
POST /api/v2/ro/status, ro/my/balances, ro/my/balance/{coin}[?available=yes],
     ro/my/orders/market/open, ro/my/orders/market/completed, ro/my/orders/completed,
     ro/my/deposits
POST /api/v2/status, quote/buy/now, quote/sell/now, my/buy, my/sell, my/buy/now,
     my/sell/now, my/buy/cancel, my/sell/cancel, my/buy/cancel/all,
     my/sell/cancel/all, my/buy/edit, my/sell/edit

Signed calls need headers `key` and `sign` (hex HMAC-SHA512 of the exact body with the
account's secret) and an integer `nonce` larger than the account's previous one.
Read-only accounts get "Permission denied" on full-access paths. Rate limit: per API
key (signed) or client IP (public), `rate_limit` per `rate_limit_period_seconds`
(default 1000/60 s), answered with 429 "Rate limit exceeded" and Retry-After.

Prices: a seeded random walk per coin (24 default coins, BTC to SHIB/PEPE at
0.00002 AUD; ticks of 8 significant digits, at most 8 decimals), or a replay of
snapshots (`replay=` or a CSV `timestamp,coin,bid,ask,last` via `replay_csv=`).
`tick_mode="manual"` moves prices only on /_admin/tick; `"clock"` ticks every
`tick_seconds`. USDT pairs (`btc_usdt`) appear in /latest for `usdt_pairs`.

Trading and fees (see engine.py): instant trades fill at the ask/bid with
`instant_fee`; limit orders reserve funds, rest, and fill at their rate when the
price crosses, with `market_fee`. Balances, open and completed orders reflect it all.

Admin API (JSON, numbers as strings; OpenAPI at /_admin/docs)
--------------------------------------------------------------
GET    /_admin/health                      liveness
POST   /_admin/reset {config: {...}}        fresh state, optional config overrides
GET    /_admin/config, PATCH /_admin/config fees, rate limit, tick mode, errors_as_http_200
POST   /_admin/accounts {api_key?, api_secret?, balances?, read_only?}  -> key + secret
GET    /_admin/accounts/{key}              balances, available, open orders, fills
POST   /_admin/accounts/{key}/fund {coin, amount}
POST   /_admin/faults {kind, count?, path?, seconds?, status?, body?, mode?, ratio?}
       kind: latency | error (5xx) | hang (no answer; mode before/after) |
             rate_limit | malformed (bad 200 body) | partial_fill
GET    /_admin/faults, DELETE /_admin/faults
POST   /_admin/tick {count}                advance prices (and fill crossed orders)
GET    /_admin/prices, PUT /_admin/prices/{coin} {bid?, ask?, last?, mid?}
POST   /_admin/coins {symbol, price, volatility?, spread?}
POST   /_admin/coins/bulk {count, prefix}  e.g. 500 extra coins
PUT    /_admin/latest/{coin} {mode}         missing|negative|nan|garbage|null|missing_field|zero
DELETE /_admin/latest/{coin}, DELETE /_admin/latest
GET    /_admin/requests?path=&outcome=     request log (arrival time, path, status, outcome)
DELETE /_admin/requests, GET /_admin/stats
"""

from app.exchange.simulator.admin_client import SimAccount, SimulatorAdmin, SimulatorAdminError
from app.exchange.simulator.app import create_simulator_app
from app.exchange.simulator.config import AccountSpec, CoinSpec, PriceSnapshot, SimulatorConfig
from app.exchange.simulator.runner import RunningSimulator, run_simulator

__all__ = [
    "AccountSpec",
    "CoinSpec",
    "PriceSnapshot",
    "RunningSimulator",
    "SimAccount",
    "SimulatorAdmin",
    "SimulatorAdminError",
    "SimulatorConfig",
    "create_simulator_app",
    "run_simulator",
]
