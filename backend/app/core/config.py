"""Application settings, read from the environment and the repo-root `.env`."""

import secrets
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AnyUrl,
    BeforeValidator,
    EmailStr,
    Field,
    computed_field,
    model_validator,
)
from pydantic_core import MultiHostUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
# bandit B105: the placeholder that start-up refuses outside local
DEFAULT_SECRET = "changethis"  # nosec B105


def _parse_list(value: Any) -> list[str] | str:
    if isinstance(value, str) and not value.startswith("["):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list | str):
        return value
    raise ValueError(value)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=str(REPO_ROOT / ".env"),
        env_ignore_empty=True,
        extra="ignore",
        # A failed start-up must not print the settings it was given (keys, passwords).
        hide_input_in_errors=True,
    )

    PROJECT_NAME: str = "Oh My Coins"
    API_V1_STR: str = "/api/v1"
    ENVIRONMENT: Literal["local", "staging", "production"] = "local"
    SECRET_KEY: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    # Access tokens are short-lived; a rotating refresh token (HttpOnly cookie) renews them.
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=10, ge=1, le=60)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=14, ge=1, le=90)
    # False only for plain-HTTP development on a host other than localhost.
    REFRESH_COOKIE_SECURE: bool = True
    # A fresh second factor (step-up) is valid this long for sensitive actions.
    STEP_UP_TTL_SECONDS: int = Field(default=300, ge=30, le=3600)
    # Login throttling: failures allowed per account / per client address before a delay,
    # the first delay (doubling per further failure, capped), and how long failures count.
    LOGIN_MAX_FAILURES_ACCOUNT: int = Field(default=5, ge=1, le=100)
    LOGIN_MAX_FAILURES_ADDRESS: int = Field(default=20, ge=1, le=10000)
    LOGIN_THROTTLE_BASE_SECONDS: int = Field(default=30, ge=1, le=3600)
    LOGIN_THROTTLE_MAX_SECONDS: int = Field(default=900, ge=1, le=86400)
    LOGIN_FAILURE_WINDOW_SECONDS: int = Field(default=3600, ge=60, le=86400 * 7)
    # Largest request body accepted (413 above it).
    MAX_REQUEST_BODY_BYTES: int = Field(default=2 * 1024 * 1024, ge=1024, le=1024**3)
    PORT: int = 8000
    FRONTEND_HOST: str = "http://localhost:8000"
    BACKEND_CORS_ORIGINS: Annotated[list[AnyUrl] | str, BeforeValidator(_parse_list)] = []

    # Database: DATABASE_URL wins; otherwise it is assembled from POSTGRES_*.
    DATABASE_URL: str | None = None
    POSTGRES_SERVER: str = "localhost"
    POSTGRES_PORT: int = 5432
    POSTGRES_USER: str = "postgres"
    POSTGRES_PASSWORD: str = ""
    POSTGRES_DB: str = "omc"

    FIRST_SUPERUSER: EmailStr = "admin@example.com"
    FIRST_SUPERUSER_PASSWORD: str = DEFAULT_SECRET

    SMTP_HOST: str | None = None
    SMTP_PORT: int = 587
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_TLS: bool = True
    EMAILS_FROM_EMAIL: EmailStr | None = None
    EMAIL_RESET_TOKEN_EXPIRE_HOURS: int = 48

    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    # repr=False keeps the keys out of `repr(settings)` (and so out of tracebacks and logs).
    CREDENTIALS_ENCRYPTION_KEYS: Annotated[list[str] | str, BeforeValidator(_parse_list)] = Field(
        default_factory=list, repr=False
    )
    # Credentials: validations (each one calls Coinspot) allowed per user per minute.
    CREDENTIALS_VALIDATE_PER_MINUTE: int = Field(default=5, ge=1, le=1000)
    # Credentials: seconds to wait for Coinspot while a user waits for a validation.
    CREDENTIALS_VALIDATE_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=120)

    COINSPOT_BASE_URL: str = "https://www.coinspot.com.au"
    COINSPOT_TIMEOUT_SECONDS: float = 30.0
    COINSPOT_RATE_LIMIT_PER_MINUTE: int = 1000
    COINSPOT_MARKET_FEE: float = 0.001
    COINSPOT_INSTANT_FEE: float = 0.01

    COLLECTOR_ENABLED: bool = True
    COLLECTOR_INTERVAL_SECONDS: int = Field(default=300, ge=10, le=86400)
    # Tries to fetch one slot's prices, and the pause between them.
    COLLECTOR_RETRY_ATTEMPTS: int = Field(default=3, ge=1, le=10)
    COLLECTOR_RETRY_DELAY_SECONDS: float = Field(default=5.0, ge=0, le=60)

    # Lab sandbox (user algorithm code): concurrent walled children, per-job limits (a run may
    # only tighten them), and the first of the unprivileged uids children run under.
    SANDBOX_WORKERS: int = Field(default=2, ge=1, le=64)
    SANDBOX_CPU_SECONDS: float = Field(default=60.0, gt=0, le=3600)
    SANDBOX_WALL_SECONDS: float = Field(default=120.0, gt=0, le=7200)
    SANDBOX_MEMORY_MB: int = Field(default=2048, ge=768, le=262144)
    SANDBOX_MAX_PROCESSES: int = Field(default=4, ge=1, le=256)
    SANDBOX_MAX_OUTPUT_BYTES: int = Field(default=64 * 1024 * 1024, ge=1024, le=1024**3)
    SANDBOX_UID_BASE: int = Field(default=60000, ge=1000, le=2**31 - 1024)

    # Lab backtests and sweeps: the in-process worker that runs queued jobs.
    BACKTEST_WORKER_ENABLED: bool = True
    BACKTEST_CONCURRENCY: int = Field(default=2, ge=1, le=32)
    BACKTEST_POLL_SECONDS: float = Field(default=2.0, gt=0, le=60)
    BACKTEST_STALE_SECONDS: float = Field(default=60.0, ge=3, le=3600)
    BACKTEST_MAX_ATTEMPTS: int = Field(default=2, ge=1, le=10)
    BACKTEST_MAX_DAYS: int = Field(default=1100, ge=1, le=3660)
    SWEEP_MAX_COMBINATIONS: int = Field(default=500, ge=1, le=10000)
    # Memory for prices already read by backtests (float64 per coin and day, checked against
    # the database on every read; 0 turns the cache off). A coin-year is about 3.4 MB.
    LAB_PRICE_CACHE_MB: int = Field(default=512, ge=0, le=65536)

    # Promotion gate: defaults of every user's policy (each user may edit their own).
    PROMOTION_MIN_SPAN_DAYS: float = Field(default=90.0, ge=0, le=3650)
    PROMOTION_MIN_ROUND_TRIPS: int = Field(default=20, ge=0, le=1_000_000)
    PROMOTION_MIN_SHARPE: float = Field(default=0.5, ge=-10, le=10)
    PROMOTION_MAX_DRAWDOWN: float = Field(default=0.30, gt=0, le=1)
    # Out of sample: total return may trail buy-and-hold by at most this fraction.
    PROMOTION_OOS_MARGIN: float = Field(default=0.05, ge=0, le=1)
    # Resource check: one `predict` on the live window, in the sandbox, within this time.
    PROMOTION_PREDICT_LIMIT_MS: int = Field(default=5000, ge=100, le=60000)

    # Floor: a live deployment needs the same release to have run on paper this long
    # (0 is accepted only when ENVIRONMENT=local).
    FLOOR_LIVE_MIN_PAPER_HOURS: float = Field(default=24.0, ge=0, le=24 * 365)

    # The Floor (app/floor): the executor that runs deployed algorithms on paper and live.
    FLOOR_EXECUTOR_ENABLED: bool = True
    # Cycles run at once in one process; deployments are claimed across processes.
    FLOOR_CONCURRENCY: int = Field(default=4, ge=1, le=256)
    FLOOR_POLL_SECONDS: float = Field(default=5.0, gt=0, le=300)
    # Seconds after each 5-minute bar closes before the leader marks deployments due (the
    # collector stores the bar first).
    FLOOR_SCHEDULE_DELAY_SECONDS: float = Field(default=20.0, ge=0, le=240)
    # Coinspot's minimum order in AUD; orders below it (or the release's own) are skipped.
    FLOOR_MIN_ORDER_AUD: Decimal = Field(default=Decimal("1.00"), ge=0)
    # Instant orders carry rate = the decision's ask/bid and this threshold in percent.
    FLOOR_MAX_SLIPPAGE_PCT: Decimal = Field(default=Decimal("0.5"), ge=0, le=1000)
    # A collected bar stands in for a live quote in paper trading only when this fresh.
    FLOOR_QUOTE_MAX_AGE_SECONDS: float = Field(default=60.0, gt=0, le=3600)
    # An order in `unknown` that matches nothing at the exchange is declared never executed
    # only this long after it was sent; exchange fills are matched within the window.
    FLOOR_RESOLVE_GRACE_SECONDS: float = Field(default=120.0, ge=0, le=86400)
    FLOOR_RESOLVE_WINDOW_SECONDS: float = Field(default=900.0, gt=0, le=86400)
    # Drift report: |live equity - backtest equity| / capital above this raises an alert.
    FLOOR_DRIFT_ALERT_FRACTION: float = Field(default=0.02, gt=0, le=1)
    # The leader checks each running deployment's drift at most this often (minutes), and
    # at most this many deployments per scheduler round (a report replays through the sandbox).
    FLOOR_DRIFT_CHECK_MINUTES: int = Field(default=60, ge=1, le=7 * 24 * 60)
    FLOOR_DRIFT_CHECKS_PER_ROUND: int = Field(default=2, ge=0, le=100)
    # Placement retries after the exchange answered "rate limited" (nothing was executed).
    FLOOR_RATE_LIMIT_RETRIES: int = Field(default=2, ge=0, le=10)
    FLOOR_RATE_LIMIT_BACKOFF_SECONDS: float = Field(default=5.0, ge=0, le=120)
    # Order-book style (price-bearing orders at the bid for buys, the ask for sells): how
    # long one order rests before it is cancelled, how often its fills are read meanwhile,
    # how many times the unfilled rest is re-priced before the cycle gives up, and how
    # ("touch": the new best bid/ask; "cross": the other side, taking liquidity at the
    # order-book fee; "step": the old rate moved FLOOR_ORDERBOOK_REPRICE_STEP_BPS towards
    # the other side, never past it). A re-price never goes further than
    # FLOOR_MAX_SLIPPAGE_PCT from the first order's rate. The cycle follows its orders, so
    # (max reprices + 1) x time-out must fit in a 5-minute bar.
    FLOOR_ORDERBOOK_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0, le=240)
    FLOOR_ORDERBOOK_POLL_SECONDS: float = Field(default=1.0, gt=0, le=60)
    FLOOR_ORDERBOOK_MAX_REPRICES: int = Field(default=2, ge=0, le=20)
    FLOOR_ORDERBOOK_REPRICE_RULE: Literal["touch", "cross", "step"] = "touch"
    FLOOR_ORDERBOOK_REPRICE_STEP_BPS: Decimal = Field(default=Decimal("5"), gt=0, le=1000)
    # Paper trading realism (both off by default: paper fills equal the backtest's): extra
    # slippage in basis points on top of the release's, the fraction of an order that fills
    # (the rest of an instant order is not executed; a resting order keeps the rest open),
    # and filling against the visible order book (Coinspot's public open orders) level by
    # level, leaving what the book cannot take unfilled.
    FLOOR_PAPER_SLIPPAGE_BPS: Decimal = Field(default=Decimal("0"), ge=0, lt=10000)
    FLOOR_PAPER_FILL_RATIO: Decimal = Field(default=Decimal("1"), gt=0, le=1)
    FLOOR_PAPER_USE_BOOK_DEPTH: bool = False
    # Emergency stop (app/floor/emergency.py): seconds one exchange call may take before it
    # counts as not answered; attempts per cancel (the open orders are re-read before each
    # retry; a flatten sell is never retried); seconds to wait for a running cycle to let go
    # of its deployment (the halt itself never waits: see DEVELOPMENT.md "Emergency stop").
    FLOOR_ESTOP_CALL_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=120)
    FLOOR_ESTOP_CANCEL_ATTEMPTS: int = Field(default=3, ge=1, le=10)
    FLOOR_ESTOP_RETRY_BACKOFF_SECONDS: float = Field(default=0.5, ge=0, le=30)
    FLOOR_ESTOP_LOCK_WAIT_SECONDS: float = Field(default=15.0, gt=0, le=300)
    # Risk engine (app/floor/risk): the price-guard defaults a new deployment's limits get
    # (quote age in seconds; bid/ask move from the previous collected bar and (ask-bid)/mid
    # as fractions), and how old that previous bar may be for the jump guard to use it.
    FLOOR_RISK_MAX_PRICE_AGE_SECONDS: int = Field(default=600, ge=1, le=86400)
    FLOOR_RISK_MAX_PRICE_JUMP_FRACTION: Decimal = Field(default=Decimal("0.2"), gt=0, le=10)
    FLOOR_RISK_MAX_SPREAD_FRACTION: Decimal = Field(default=Decimal("0.05"), gt=0, le=1)
    FLOOR_RISK_PREVIOUS_BAR_MAX_AGE_SECONDS: int = Field(default=3600, ge=300, le=86400)
    # Reconciliation with Coinspot (app/floor/reconciliation): runs at start-up and then
    # every this many seconds for each account with a running live deployment (0 = only on
    # demand); a run waits at most FLOOR_RECONCILE_LOCK_WAIT_SECONDS for a running cycle.
    FLOOR_RECONCILE_INTERVAL_SECONDS: float = Field(default=300.0, ge=0, le=86400)
    FLOOR_RECONCILE_LOCK_WAIT_SECONDS: float = Field(default=10.0, gt=0, le=600)

    # Live updates: how event notifications reach every app process ("postgres" =
    # LISTEN/NOTIFY, "redis" = Redis pub/sub at REDIS_URL), WebSocket heartbeat interval,
    # seconds a client has to send its token when it did not give one in the URL, events
    # a client may fall behind before it is disconnected, and days events are kept.
    EVENTS_BACKEND: Literal["postgres", "redis"] = "postgres"
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    WS_HEARTBEAT_SECONDS: float = Field(default=20.0, gt=0, le=300)
    WS_AUTH_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=120)
    WS_QUEUE_SIZE: int = Field(default=1000, ge=10, le=100_000)
    EVENTS_RETENTION_DAYS: int = Field(default=30, ge=1, le=3650)

    # Alerts: repeats of one alert (same user, kind and key) within this window are grouped
    # into one alert with a count; delivery attempts per channel; webhook timeout; whether
    # this process runs the daily summary job (each user picks the hour in their rules).
    ALERT_GROUP_WINDOW_SECONDS: int = Field(default=3600, ge=0, le=7 * 86400)
    ALERT_DELIVERY_ATTEMPTS: int = Field(default=3, ge=1, le=10)
    ALERT_WEBHOOK_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=60)
    ALERT_SCHEDULER_ENABLED: bool = True

    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def all_cors_origins(self) -> list[str]:
        return [str(origin).rstrip("/") for origin in self.BACKEND_CORS_ORIGINS] + [
            self.FRONTEND_HOST
        ]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def SQLALCHEMY_DATABASE_URI(self) -> str:
        if self.DATABASE_URL:
            url = self.DATABASE_URL
            for prefix in ("postgresql://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return str(
            MultiHostUrl.build(
                scheme="postgresql+psycopg",
                username=self.POSTGRES_USER,
                password=self.POSTGRES_PASSWORD or None,
                host=self.POSTGRES_SERVER,
                port=self.POSTGRES_PORT,
                path=self.POSTGRES_DB,
            )
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def emails_enabled(self) -> bool:
        return bool(self.SMTP_HOST and self.EMAILS_FROM_EMAIL)

    def _check_default_secret(self, name: str, value: str | None) -> None:
        if value == DEFAULT_SECRET:
            message = f'The value of {name} is "{DEFAULT_SECRET}", change it for security.'
            if self.ENVIRONMENT == "local":
                warnings.warn(message, stacklevel=1)
            else:
                raise ValueError(message)

    @model_validator(mode="after")
    def _enforce_non_default_secrets(self) -> Self:
        self._check_default_secret("SECRET_KEY", self.SECRET_KEY)
        self._check_default_secret("POSTGRES_PASSWORD", self.POSTGRES_PASSWORD or None)
        self._check_default_secret("FIRST_SUPERUSER_PASSWORD", self.FIRST_SUPERUSER_PASSWORD)
        if self.ENVIRONMENT != "local":
            keys = self.CREDENTIALS_ENCRYPTION_KEYS
            if not keys or any(k == DEFAULT_SECRET for k in keys):
                raise ValueError(
                    "CREDENTIALS_ENCRYPTION_KEYS must be set to real Fernet keys outside local."
                )
        self._check_encryption_keys_format()
        if self.ENVIRONMENT != "local" and self.FLOOR_LIVE_MIN_PAPER_HOURS == 0:
            raise ValueError("FLOOR_LIVE_MIN_PAPER_HOURS may be 0 only when ENVIRONMENT=local.")
        book_seconds = (
            self.FLOOR_ORDERBOOK_MAX_REPRICES + 1
        ) * self.FLOOR_ORDERBOOK_TIMEOUT_SECONDS
        if book_seconds > 240:
            raise ValueError(
                "(FLOOR_ORDERBOOK_MAX_REPRICES + 1) x FLOOR_ORDERBOOK_TIMEOUT_SECONDS must be at"
                " most 240 s: a cycle follows its order-book orders within one 5-minute bar."
            )
        return self

    def _check_encryption_keys_format(self) -> None:
        from app.core.crypto import InvalidEncryptionKeyError, load_fernet_keys

        keys = self.CREDENTIALS_ENCRYPTION_KEYS
        try:
            load_fernet_keys([keys] if isinstance(keys, str) else keys)
        except InvalidEncryptionKeyError as exc:
            message = f"CREDENTIALS_ENCRYPTION_KEYS: {exc}"
            if self.ENVIRONMENT == "local":
                warnings.warn(message, stacklevel=1)
            else:
                raise ValueError(message) from None


settings = Settings()
