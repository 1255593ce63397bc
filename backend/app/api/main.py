"""Assemble every domain's router under /api/v1."""

from fastapi import APIRouter

from app.alerts import lifecycle as alerts_lifecycle  # noqa: F401 - registers start/stop hooks
from app.alerts import routes as alerts_routes
from app.api.routes import utils
from app.audit import routes as audit_routes
from app.auth import routes as auth_routes
from app.collector import routes as collector_routes
from app.credentials import routes as credentials_routes
from app.events import lifecycle as events_lifecycle  # noqa: F401 - registers start/stop hooks
from app.events import routes as events_routes
from app.floor import deploy_routes
from app.lab import lifecycle as lab_lifecycle  # noqa: F401 - registers start/stop hooks
from app.lab.algorithms import routes as algorithm_routes
from app.lab.backtests import routes as backtest_routes
from app.lab.releases import routes as release_routes
from app.users import login_routes
from app.users import routes as users_routes

# isort: split
# After the Lab's hooks: the executor starts after the sandbox pool and stops before it.
from app.floor import emergency_routes, limits_routes, management_routes
from app.floor import execution_routes as floor_execution_routes
from app.floor import service as floor_service  # noqa: F401 - registers start/stop hooks
from app.floor.pnl import routes as pnl_routes
from app.floor.reconciliation import lifecycle as reconciliation_lifecycle  # noqa: F401 - hooks
from app.floor.reconciliation import routes as reconciliation_routes

api_router = APIRouter()
api_router.include_router(login_routes.router)
api_router.include_router(users_routes.router)
api_router.include_router(auth_routes.router)
api_router.include_router(utils.router)
api_router.include_router(credentials_routes.router)
api_router.include_router(collector_routes.prices_router)
api_router.include_router(collector_routes.collector_router)
api_router.include_router(algorithm_routes.router)
api_router.include_router(backtest_routes.router)
api_router.include_router(release_routes.router)
api_router.include_router(deploy_routes.router)
api_router.include_router(audit_routes.router)
api_router.include_router(floor_execution_routes.router)
api_router.include_router(pnl_routes.router)
api_router.include_router(management_routes.router)
api_router.include_router(emergency_routes.router)
api_router.include_router(limits_routes.router)
api_router.include_router(reconciliation_routes.router)
api_router.include_router(events_routes.router)
api_router.include_router(alerts_routes.router)
