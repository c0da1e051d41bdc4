"""GET /api/v1/finops/dashboard, /dashboard/stats and /dashboard/top-drivers.

The overview combines the other reports on their defaults (30 days, 12 months, 10 drivers) so
that a dashboard loads with one request and shows the same numbers as the individual endpoints.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get

from services.api.finops import openapi as doc
from services.api.finops.answer_cache import answer_cache
from services.api.finops.params import integer
from services.api.finops.rankings import dashboard_stats, drivers
from services.api.finops.response import NumberResponse
from services.api.finops.schemas import Dashboard, DashboardStats, Driver
from services.api.finops.scope import finops_principal, load_scope
from services.api.finops.timeseries import cost_trends, monthly_costs
from services.api.finops.windows import parse_window
from shared.db.pool import Pool

DEFAULT_PERIOD = "30d"
DEFAULT_MONTHS = 12
DEFAULT_DRIVERS = 10


def _pool(request: Request[Any, Any, Any]) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


class FinOpsDashboardController(Controller):
    path = "/api/v1/finops/dashboard"
    tags = ["finops"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    response_class = NumberResponse

    @get(
        "/",
        operation_id="getFinopsDashboard",
        summary="Stats, 30-day trend, 12 months and top drivers in one response",
        responses=doc.ERRORS,
    )
    async def overview(self, request: Request[Any, Any, Any]) -> Dashboard:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        window = parse_window("period", None, DEFAULT_PERIOD)
        span = window.ending_now(now)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)

            async def overview() -> Dashboard:
                # The drivers' shares need the period's totals: the statistics reuse them.
                previous = window.before(span)
                ranked, current, before = await drivers(
                    conn, scope, span, previous, DEFAULT_DRIVERS
                )
                stats = await dashboard_stats(conn, scope, window, now, (current, before))
                trend = await cost_trends(conn, scope, window, span, window.resolution, None, now)
                months = await monthly_costs(conn, scope, DEFAULT_MONTHS, None, now)
                return Dashboard(stats, trend, months, ranked)

            return await answer_cache(request).through(
                "dashboard", (), scope, now, overview, Dashboard
            )

    @get(
        "/stats",
        operation_id="getFinopsDashboardStats",
        summary="Totals, idle share, resource split, counts and change for a period",
        responses=doc.ERRORS,
    )
    async def stats(
        self,
        request: Request[Any, Any, Any],
        period: str | None = doc.window(DEFAULT_PERIOD, "period"),
    ) -> DashboardStats:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        window = parse_window("period", period, DEFAULT_PERIOD)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "dashboard/stats",
                (window.text,),
                scope,
                now,
                lambda: dashboard_stats(conn, scope, window, now),
                DashboardStats,
            )

    @get(
        "/top-drivers",
        operation_id="getFinopsDashboardTopDrivers",
        summary="The most expensive workloads of a period, largest first",
        responses=doc.ERRORS,
    )
    async def top_drivers(
        self,
        request: Request[Any, Any, Any],
        limit: str | None = doc.limit(),
        period: str | None = doc.window(DEFAULT_PERIOD, "period"),
    ) -> list[Driver]:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        count = integer("limit", limit, DEFAULT_DRIVERS, 1, 100)
        window = parse_window("period", period, DEFAULT_PERIOD)
        span = window.ending_now(now)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)

            async def ranked() -> list[Driver]:
                found, _, _ = await drivers(conn, scope, span, window.before(span), count)
                return found

            return await answer_cache(request).through(
                "dashboard/top-drivers", (window.text, count), scope, now, ranked, list
            )
