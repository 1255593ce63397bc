"""Assemble every domain's router under /api/v1."""

from fastapi import APIRouter

from app.api.routes import utils
from app.auth import routes as auth_routes
from app.collector import routes as collector_routes
from app.credentials import routes as credentials_routes
from app.lab import lifecycle as lab_lifecycle  # noqa: F401 - registers start/stop hooks
from app.lab.algorithms import routes as algorithm_routes
from app.lab.backtests import routes as backtest_routes
from app.users import login_routes
from app.users import routes as users_routes

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
