"""GET /api/v1/finops/costs/*: monthly, daily, services, historical, breakdown, trends and
top-drivers, per spec/finops-costs-api.md.

Every handler authenticates first (401/403 before any parameter is looked at), then validates
its parameters, then reads the rollups within the key's organization and cluster allow-list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get

from services.api.errors import validation_error
from services.api.finops import openapi as doc
from services.api.finops.answer_cache import answer_cache
from services.api.finops.params import (
    GroupBy,
    ResourceType,
    choice,
    granularity,
    group_by,
    integer,
    label,
)
from services.api.finops.rankings import cost_breakdown, service_costs, top_drivers
from services.api.finops.response import NumberResponse
from services.api.finops.schemas import (
    CostBreakdown,
    CostTrends,
    DailyCosts,
    HistoricalCosts,
    MonthlyCosts,
    ServiceCosts,
    TopDrivers,
)
from services.api.finops.scope import finops_principal, load_scope
from services.api.finops.timeseries import (
    cost_trends,
    daily_costs,
    historical_costs,
    monthly_costs,
)
from services.api.finops.windows import Span, Window, parse_range, parse_window
from shared.db.pool import Pool
from shared.timewindows import Resolution

MAX_HOURLY_POINTS = 744


def _pool(request: Request[Any, Any, Any]) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def _services_span(period: str | None, start: str | None, end: str | None, now: datetime) -> Span:
    if period is not None and (start is not None or end is not None):
        raise validation_error(
            "give either 'period' or 'startDate'/'endDate', not both",
            parameters=["period", "startDate", "endDate"],
        )
    if start is not None or end is not None:
        return parse_range(start, end, now)
    return parse_window("period", period, "30d").ending_now(now)


def trends_report_span(window: Window, chosen: Resolution, now: datetime) -> Span:
    span = window.ending_now(now)
    hours = int((span.end - span.start).total_seconds()) // 3600
    if chosen is Resolution.HOURLY and hours > MAX_HOURLY_POINTS:
        raise validation_error(
            f"granularity=hourly is limited to windows of {MAX_HOURLY_POINTS} hours (31 days)",
            parameter="granularity",
            maximum_hours=MAX_HOURLY_POINTS,
        )
    return span


class FinOpsCostsController(Controller):
    path = "/api/v1/finops/costs"
    tags = ["finops"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    response_class = NumberResponse

    @get(
        "/monthly",
        operation_id="getFinopsMonthlyCosts",
        summary="Fully loaded cost per calendar month",
        responses=doc.ERRORS,
    )
    async def monthly(
        self,
        request: Request[Any, Any, Any],
        months: str | None = doc.query("months", "Number of months, 1 to 60 (default 12)."),
        year: str | None = doc.query(
            "year", "Only months of this year (2000 to the current year)."
        ),
    ) -> MonthlyCosts:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        count = integer("months", months, 12, 1, 60)
        year_value = None if year is None else integer("year", year, 0, 2000, now.year)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "costs/monthly",
                (count, year_value),
                scope,
                now,
                lambda: monthly_costs(conn, scope, count, year_value, now),
                MonthlyCosts,
            )

    @get(
        "/daily",
        operation_id="getFinopsDailyCosts",
        summary="Cost per UTC day, with total, average and trend",
        responses=doc.ERRORS,
    )
    async def daily(
        self,
        request: Request[Any, Any, Any],
        start_date: str | None = doc.start_date(),
        end_date: str | None = doc.end_date(),
        resource_type: str | None = doc.resource_type(),
    ) -> DailyCosts:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        span = parse_range(start_date, end_date, now)
        resource = choice("resourceType", resource_type, ResourceType)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "costs/daily",
                (span.start, span.end, resource),
                scope,
                now,
                lambda: daily_costs(conn, scope, span, resource, now),
                DailyCosts,
            )

    @get(
        "/services",
        operation_id="getFinopsServiceCosts",
        summary="Cost per service label, split by resource",
        responses=doc.ERRORS,
    )
    async def services(
        self,
        request: Request[Any, Any, Any],
        period: str | None = doc.window("30d", "period"),
        start_date: str | None = doc.start_date(),
        end_date: str | None = doc.end_date(),
    ) -> ServiceCosts:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        span = _services_span(period, start_date, end_date, now)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "costs/services",
                (span.start, span.end),
                scope,
                now,
                lambda: service_costs(conn, scope, span),
                ServiceCosts,
            )

    @get(
        "/historical",
        operation_id="getFinopsHistoricalCosts",
        summary="Daily cost series for a date range, optionally per group",
        responses=doc.ERRORS,
    )
    async def historical(
        self,
        request: Request[Any, Any, Any],
        start_date: str | None = doc.start_date(),
        end_date: str | None = doc.end_date(),
        group_by_: str | None = doc.group_by(None),
        org_id: str | None = doc.org_id(),
        user_id: str | None = doc.user_id(),
    ) -> HistoricalCosts:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        span = parse_range(start_date, end_date, now)
        grouping = group_by(group_by_, None)
        team, owner = label("orgId", org_id), label("userId", user_id)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal, team, owner)
            return await answer_cache(request).through(
                "costs/historical",
                (span.start, span.end, grouping),
                scope,
                now,
                lambda: historical_costs(conn, scope, span, grouping, now),
                HistoricalCosts,
            )

    @get(
        "/breakdown",
        operation_id="getFinopsCostBreakdown",
        summary="Cost of a window per group, with each group's resource split",
        responses=doc.ERRORS,
    )
    async def breakdown(
        self,
        request: Request[Any, Any, Any],
        window: str | None = doc.window("30d"),
        org_id: str | None = doc.org_id(),
        user_id: str | None = doc.user_id(),
        resource_type: str | None = doc.resource_type(),
        group_by_: str | None = doc.group_by("namespace"),
    ) -> CostBreakdown:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        chosen = parse_window("window", window, "30d")
        team, owner = label("orgId", org_id), label("userId", user_id)
        resource = choice("resourceType", resource_type, ResourceType)
        grouping = group_by(group_by_, GroupBy.NAMESPACE)
        assert grouping is not None
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal, team, owner)
            return await answer_cache(request).through(
                "costs/breakdown",
                (chosen.text, grouping, resource),
                scope,
                now,
                lambda: cost_breakdown(conn, scope, chosen, grouping, resource, now),
                CostBreakdown,
            )

    @get(
        "/trends",
        operation_id="getFinopsCostTrends",
        summary="Cost per bucket with the change from the bucket before",
        responses=doc.ERRORS,
    )
    async def trends(
        self,
        request: Request[Any, Any, Any],
        window: str | None = doc.window("30d"),
        granularity_: str | None = doc.query(
            "granularity",
            "hourly, daily, weekly or monthly; default: the window's unit (h -> hourly, "
            "d -> daily, w -> weekly, m -> monthly). hourly needs a window of at most 31 days.",
        ),
        group_by_: str | None = doc.group_by(None),
    ) -> CostTrends:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        chosen = parse_window("window", window, "30d")
        resolution = granularity(granularity_, chosen.resolution)
        span = trends_report_span(chosen, resolution, now)
        grouping = group_by(group_by_, None)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "costs/trends",
                (chosen.text, resolution, grouping),
                scope,
                now,
                lambda: cost_trends(conn, scope, chosen, span, resolution, grouping, now),
                CostTrends,
            )

    @get(
        "/top-drivers",
        operation_id="getFinopsTopDrivers",
        summary="The most expensive workloads, compared with the period before",
        responses=doc.ERRORS,
    )
    async def top_drivers_(
        self,
        request: Request[Any, Any, Any],
        window: str | None = doc.window("30d"),
        limit: str | None = doc.limit(),
        compare_window: str | None = doc.query(
            "compareWindow",
            "Length of the comparison period, which ends where the window starts; same syntax "
            "as window. Default: the window itself.",
        ),
    ) -> TopDrivers:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        chosen = parse_window("window", window, "30d")
        count = integer("limit", limit, 10, 1, 100)
        compare = parse_window("compareWindow", compare_window, chosen.text)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "costs/top-drivers",
                (chosen.text, compare.text, count),
                scope,
                now,
                lambda: top_drivers(conn, scope, chosen, compare, count, now),
                TopDrivers,
            )
