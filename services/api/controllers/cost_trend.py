"""Cost-trend endpoints (spec/cost-trends-api.md), served from the rollups only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.params import Parameter
from psycopg import sql

from services.api.auth import bearer_key, resolve_key
from services.api.cost_trend import anchored_window, bucket_costs, series
from services.api.errors import ApiError, request_id_of
from services.api.money import money
from services.api.schemas import (
    CostTrendMeta,
    CostTrendPoint,
    CostTrendResponse,
    CostTrendSeries,
    ScopeRef,
)
from services.api.trend_params import CostMode, parse_trend_query, parse_uuid
from shared.db.pool import Pool
from shared.timewindows import isoformat_z

_START = Parameter(
    query="start", description="Window start, unix epoch seconds (UTC).", required=False
)
_END = Parameter(
    query="end", description="Window end, unix epoch seconds (UTC); > start.", required=False
)
_TYPE = Parameter(query="type", description="run_rate (default) or breakdown.", required=False)
_GRANULARITY = Parameter(
    query="granularity",
    description="auto (default), hourly, daily, weekly or monthly.",
    required=False,
)
_COST_MODE = Parameter(
    query="cost_mode", description="fully_loaded or workload_only.", required=False
)


class CostTrendController(Controller):
    path = "/v1"
    tags = ["cost-trend"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get(
        "/clusters/{cluster_id:str}/cost-trend",
        operation_id="getClusterCostTrend",
        summary="Cost trend of one cluster",
    )
    async def cluster_cost_trend(
        self,
        request: Request[Any, Any, Any],
        cluster_id: str,
        start: str | None = _START,
        end: str | None = _END,
        type_: str | None = Parameter(query="type", description=_TYPE.description, required=False),
        granularity: str | None = _GRANULARITY,
        cost_mode: str | None = _COST_MODE,
    ) -> CostTrendResponse:
        pool: Pool = request.app.state.pool
        principal = await resolve_key(pool, bearer_key(request))
        principal.require_scope("clusters:read")
        cluster_uuid = parse_uuid(cluster_id, "INVALID_CLUSTER_ID", "cluster_id")
        query = parse_trend_query(start, end, type_, granularity, cost_mode, CostMode.FULLY_LOADED)
        window = anchored_window(query)
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT 1 FROM cluster WHERE id = %s AND organization_id = %s",
                (cluster_uuid, principal.organization_id),
            )
            if await cursor.fetchone() is None:
                raise ApiError(
                    404,
                    "CLUSTER_NOT_FOUND",
                    "no such cluster in this organization",
                    {"cluster_id": str(cluster_uuid)},
                )
            if not principal.can_reach(cluster_uuid):
                raise ApiError(
                    403,
                    "CLUSTER_ACCESS_DENIED",
                    "this API key cannot reach the cluster",
                    {"cluster_id": str(cluster_uuid)},
                )
            costs = await bucket_costs(
                conn,
                query,
                window,
                sql.SQL("cluster_id = %(cluster_id)s"),
                {"cluster_id": cluster_uuid},
            )
        currency: str = request.app.state.currency
        return CostTrendResponse(
            data=CostTrendSeries(
                kind="CostTrend",
                scope="cluster",
                scope_ref=ScopeRef(cluster_id=str(cluster_uuid)),
                start=isoformat_z(window.start),
                end=isoformat_z(window.end),
                granularity=query.granularity.value,
                type=query.type.value,
                points=[
                    CostTrendPoint(isoformat_z(anchor), money(amount, currency))
                    for anchor, amount in series(query, window, costs)
                ],
                excluded_cluster_ids=[],
            ),
            meta=CostTrendMeta(
                request_id=request_id_of(request),
                applied_at=isoformat_z(datetime.now(UTC)),
                cost_mode=None if query.cost_mode is None else query.cost_mode.value,
            ),
        )
