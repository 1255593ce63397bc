"""`python -m app.exchange.simulator`: serve the Coinspot simulator (see the package docstring)."""

import argparse
import logging
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import uvicorn

from app.exchange.simulator.app import create_simulator_app
from app.exchange.simulator.coins import DEFAULT_COINS
from app.exchange.simulator.config import AccountSpec, SimulatorConfig


def _account(text: str) -> tuple[str, str, bool]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("use KEY:SECRET or KEY:SECRET:ro")
    if len(parts) == 3 and parts[2] != "ro":
        raise argparse.ArgumentTypeError("the optional third part must be 'ro'")
    return parts[0], parts[1], len(parts) == 3


def _fund(text: str) -> tuple[str, Decimal]:
    coin, sep, amount = text.partition("=")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = None
    if not sep or not coin or value is None or not value.is_finite():
        raise argparse.ArgumentTypeError("use COIN=AMOUNT, e.g. AUD=10000")
    return coin.upper(), value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.exchange.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tick-mode", choices=["manual", "clock"], default="clock")
    parser.add_argument("--tick-seconds", type=float, default=300.0)
    parser.add_argument("--market-fee", type=Decimal, default=Decimal("0.001"))
    parser.add_argument("--instant-fee", type=Decimal, default=Decimal("0.01"))
    parser.add_argument("--rate-limit", type=int, default=1000, help="requests per period")
    parser.add_argument("--rate-limit-period", type=float, default=60.0, help="seconds")
    parser.add_argument("--replay-csv", type=Path, help="timestamp,coin,bid,ask,last history")
    parser.add_argument("--replay-loop", action="store_true")
    parser.add_argument("--errors-as-http-200", action="store_true")
    parser.add_argument(
        "--account", type=_account, action="append", default=[], help="KEY:SECRET[:ro]"
    )
    parser.add_argument(
        "--fund", type=_fund, action="append", default=[], help="COIN=AMOUNT for every --account"
    )
    parser.add_argument(
        "--coins",
        type=int,
        default=None,
        help="quote only the first N default coins (as `collector generate-demo --coins N`)",
    )
    parser.add_argument("--extra-coins", type=int, default=0, help="add N random coins")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper())
    balances = dict(args.fund)
    coins = {} if args.coins is None else {"coins": list(DEFAULT_COINS[: max(1, args.coins)])}
    config = SimulatorConfig(
        **coins,
        seed=args.seed,
        tick_mode=args.tick_mode,
        tick_seconds=args.tick_seconds,
        market_fee=args.market_fee,
        instant_fee=args.instant_fee,
        rate_limit=args.rate_limit,
        rate_limit_period_seconds=args.rate_limit_period,
        replay_csv=args.replay_csv,
        replay_loop=args.replay_loop,
        errors_as_http_200=args.errors_as_http_200,
        accounts=[
            AccountSpec(api_key=key, api_secret=secret, read_only=ro, balances=balances)
            for key, secret, ro in args.account
        ],
    )
    app = create_simulator_app(config)
    if args.extra_coins:
        app.state.simulator.engine.add_random_coins(args.extra_coins, "SIM")
    logging.getLogger(__name__).info(
        "Coinspot simulator listening",
        extra={"url": f"http://{args.host}:{args.port}", "admin_docs": "/_admin/docs"},
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower())


if __name__ == "__main__":
    main()
