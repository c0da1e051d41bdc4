"""Cost-trend endpoints (spec/cost-trends-api.md): five scopes, one query model, served from the
rollups only.

Checks run in a fixed order so each failure gets the spec's code: key (401), scope (403),
path identifiers (400), query (400/422), the cluster in the key's tenant (404), the key's cluster
allow-list (403), then the scoped resource (404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from psycopg import sql

from services.api.auth import Principal, bearer_key, resolve_key
from services.api.cost_trend import (
    CLUSTER_TOTALS,
    DETAILED,
    NODE_BILL,
    RollupFamily,
    anchored_window,
    bucket_costs,
    series,
)
from services.api.errors import ApiError, ErrorEnvelope, request_id_of
from services.api.identifiers import parse_uuid_or_ulid
from services.api.money import money
from services.api.schemas import (
    CostTrendMeta,
    CostTrendPoint,
    CostTrendResponse,
    CostTrendSeries,
    ScopeRef,
)
from services.api.trend_params import CostMode, TrendQuery, parse_trend_query
from services.api.unknown_params import refuse_unknown_query
from shared.db.pool import Conn, Pool
from shared.timewindows import isoformat_z

_ERRORS = {
    status: ResponseSpec(data_container=ErrorEnvelope, description=text)
    for status, text in (
        (400, "Malformed request (BAD_REQUEST, INVALID_CLUSTER_ID)"),
        (401, "Missing or invalid Bearer token (UNAUTHORIZED)"),
        (403, "Missing scope (FORBIDDEN) or cluster outside the allow-list"),
        (404, "Path-bound resource not found in the tenant"),
        (422, "VALIDATION_ERROR or INVALID_COST_MODE"),
        (429, "Per-key quota exceeded (RATE_LIMITED); honor Retry-After"),
        (503, "A backend dependency was unavailable (SERVICE_UNAVAILABLE)"),
    )
}


def _start() -> Any:
    return Parameter(
        query="start", required=False, description="Window start, unix epoch seconds (UTC)."
    )


def _end() -> Any:
    return Parameter(
        query="end", required=False, description="Window end, unix epoch seconds (UTC); > start."
    )


def _type() -> Any:
    return Parameter(query="type", required=False, description="run_rate (default) or breakdown.")


def _granularity() -> Any:
    return Parameter(
        query="granularity",
        required=False,
        description="auto (default: hourly up to 14 days, else daily), hourly, daily, weekly, "
        "monthly.",
    )


def _cost_mode() -> Any:
    return Parameter(
        query="cost_mode", required=False, description="fully_loaded or workload_only."
    )


@dataclass(frozen=True)
class _Scope:
    name: str
    permission: str
    default_mode: CostMode | None


CLUSTER = _Scope("cluster", "clusters:read", CostMode.FULLY_LOADED)
NAMESPACE = _Scope("namespace", "namespaces:read", CostMode.WORKLOAD_ONLY)
WORKLOAD = _Scope("workload", "workloads:read", CostMode.WORKLOAD_ONLY)
NODE_GROUP = _Scope("node-group", "nodes:read", None)
ORGANIZATION = _Scope("organization", "organization:read", CostMode.FULLY_LOADED)


async def _principal(request: Request[Any, Any, Any], scope: _Scope) -> Principal:
    state = request.app.state
    principal = await resolve_key(state.pool, bearer_key(request), state.key_cache)
    request.app.state.rate_limiter.check(principal.key_id)
    principal.require_scope(scope.permission)
    refuse_unknown_query(request)
    return principal


def _cluster_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(
            400, "INVALID_CLUSTER_ID", "cluster_id is not a valid UUID", {"cluster_id": text[:64]}
        ) from None


async def _require_cluster(conn: Conn, principal: Principal, cluster_id: uuid.UUID) -> None:
    cursor = await conn.execute(
        "SELECT 1 FROM cluster WHERE id = %s AND organization_id = %s",
        (cluster_id, principal.organization_id),
    )
    if await cursor.fetchone() is None:
        raise ApiError(
            404,
            "CLUSTER_NOT_FOUND",
            "no such cluster in this organization",
            {"cluster_id": str(cluster_id)},
        )
    if not principal.can_reach(cluster_id):
        raise ApiError(
            403,
            "CLUSTER_ACCESS_DENIED",
            "this API key cannot reach the cluster",
            {"cluster_id": str(cluster_id)},
        )


async def _exists(conn: Conn, query: str, params: tuple[object, ...]) -> bool:
    cursor = await conn.execute(query, params)
    return await cursor.fetchone() is not None


def _response(
    request: Request[Any, Any, Any],
    scope: _Scope,
    query: TrendQuery,
    points: list[CostTrendPoint],
    scope_ref: ScopeRef | None,
    excluded: list[str],
    window_start: datetime,
    window_end: datetime,
) -> CostTrendResponse:
    return CostTrendResponse(
        data=CostTrendSeries(
            kind="CostTrend",
            scope=scope.name,
            scope_ref=scope_ref,
            start=isoformat_z(window_start),
            end=isoformat_z(window_end),
            granularity=query.granularity.value,
            type=query.type.value,
            points=points,
            excluded_cluster_ids=excluded,
        ),
        meta=CostTrendMeta(
            request_id=request_id_of(request),
            applied_at=isoformat_z(datetime.now(UTC)),
            cost_mode=None if query.cost_mode is None else query.cost_mode.value,
        ),
    )


async def _series(
    request: Request[Any, Any, Any],
    conn: Conn,
    query: TrendQuery,
    scope_filter: sql.Composable,
    params: dict[str, object],
    family: RollupFamily = DETAILED,
) -> tuple[list[CostTrendPoint], datetime, datetime]:
    window = anchored_window(query)
    costs = await bucket_costs(conn, query, window, scope_filter, params, family)
    currency: str = request.app.state.currency
    points = [
        CostTrendPoint(isoformat_z(anchor), money(amount, currency))
        for anchor, amount in series(query, window, costs)
    ]
    return points, window.start, window.end


@dataclass(frozen=True)
class _Dimension:
    """A scope below the cluster: the rollup column it filters on and how it is found."""

    column: str
    label: str
    not_found: str
    exists_sql: str
    family: RollupFamily = DETAILED


NAMESPACE_DIMENSION = _Dimension(
    "namespace",
    "namespace",
    "NAMESPACE_NOT_FOUND",
    "SELECT 1 FROM cost_monthly WHERE cluster_id = %s AND namespace = %s LIMIT 1",
)
WORKLOAD_DIMENSION = _Dimension(
    "workload_uid",
    "workload",
    "WORKLOAD_NOT_FOUND",
    "SELECT 1 FROM workload WHERE cluster_id = %s AND uid = %s",
)
# A node group is a set of nodes, so it exists when the node bill has a node in it; what pods
# ran there does not make one (allocations learn their node group from the same assets anyway).
NODE_GROUP_DIMENSION = _Dimension(
    "node_group",
    "node group",
    "NODE_GROUP_NOT_FOUND",
    "SELECT 1 FROM node_cost_monthly"
    " WHERE cluster_id = %s AND asset_type = 'node' AND node_group = %s LIMIT 1",
    NODE_BILL,
)


async def _dimension_points(
    request: Request[Any, Any, Any],
    principal: Principal,
    cluster_id: uuid.UUID,
    query: TrendQuery,
    dimension: _Dimension,
    value: str | uuid.UUID,
) -> tuple[list[CostTrendPoint], datetime, datetime]:
    """The series of one namespace, workload or node group, after the cluster checks and the
    resource's own 404."""
    pool: Pool = request.app.state.pool
    async with pool.connection() as conn:
        await _require_cluster(conn, principal, cluster_id)
        # No stored text holds NUL (PostgreSQL refuses it), so such a name names nothing.
        if (
            value == ""
            or "\x00" in str(value)
            or not await _exists(conn, dimension.exists_sql, (cluster_id, value))
        ):
            raise ApiError(
                404,
                dimension.not_found,
                f"no such {dimension.label} in this cluster",
                {"cluster_id": str(cluster_id), dimension.column: str(value)[:253]},
            )
        return await _series(
            request,
            conn,
            query,
            sql.SQL("cluster_id = %(cluster)s AND {} = %(value)s").format(
                sql.Identifier(dimension.column)
            ),
            {"cluster": cluster_id, "value": value},
            dimension.family,
        )


class CostTrendController(Controller):
    path = "/v1"
    tags = ["cost-trend"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get(
        "/clusters/{cluster_id:str}/cost-trend",
        operation_id="getClusterCostTrend",
        summary="Cost trend of one cluster",
        responses=_ERRORS,
    )
    async def cluster(
        self,
        request: Request[Any, Any, Any],
        cluster_id: str,
        start: str | None = _start(),
        end: str | None = _end(),
        type_: str | None = _type(),
        granularity: str | None = _granularity(),
        cost_mode: str | None = _cost_mode(),
    ) -> CostTrendResponse:
        principal = await _principal(request, CLUSTER)
        cluster_uuid = _cluster_uuid(cluster_id)
        query = parse_trend_query(start, end, type_, granularity, cost_mode, CLUSTER.default_mode)
        pool: Pool = request.app.state.pool
        async with pool.connection() as conn:
            await _require_cluster(conn, principal, cluster_uuid)
            points, first, last = await _series(
                request,
                conn,
                query,
                sql.SQL("cluster_id = %(cluster)s"),
                {"cluster": cluster_uuid},
                family=CLUSTER_TOTALS,
            )
        ref = ScopeRef(cluster_id=str(cluster_uuid))
        return _response(request, CLUSTER, query, points, ref, [], first, last)

    @get(
        "/clusters/{cluster_id:str}/namespaces/{namespace:str}/cost-trend",
        operation_id="getNamespaceCostTrend",
        summary="Cost trend of one namespace",
        responses=_ERRORS,
    )
    async def namespace(
        self,
        request: Request[Any, Any, Any],
        cluster_id: str,
        namespace: str,
        start: str | None = _start(),
        end: str | None = _end(),
        type_: str | None = _type(),
        granularity: str | None = _granularity(),
        cost_mode: str | None = _cost_mode(),
    ) -> CostTrendResponse:
        principal = await _principal(request, NAMESPACE)
        cluster_uuid = _cluster_uuid(cluster_id)
        query = parse_trend_query(start, end, type_, granularity, cost_mode, NAMESPACE.default_mode)
        points, first, last = await _dimension_points(
            request, principal, cluster_uuid, query, NAMESPACE_DIMENSION, namespace
        )
        ref = ScopeRef(cluster_id=str(cluster_uuid), namespace=namespace)
        return _response(request, NAMESPACE, query, points, ref, [], first, last)

    @get(
        "/clusters/{cluster_id:str}/workloads/by-uid/{workload_uid:str}/cost-trend",
        operation_id="getWorkloadCostTrend",
        summary="Cost trend of one workload (UUID, or the ULID spelling of the same 128 bits)",
        responses=_ERRORS,
    )
    async def workload(
        self,
        request: Request[Any, Any, Any],
        cluster_id: str,
        workload_uid: str,
        start: str | None = _start(),
        end: str | None = _end(),
        type_: str | None = _type(),
        granularity: str | None = _granularity(),
        cost_mode: str | None = _cost_mode(),
    ) -> CostTrendResponse:
        principal = await _principal(request, WORKLOAD)
        cluster_uuid = _cluster_uuid(cluster_id)
        workload = parse_uuid_or_ulid(workload_uid)
        if workload is None:
            raise ApiError(
                400,
                "BAD_REQUEST",
                "workload_uid must be a UUID (or its 26-character ULID form)",
                {"workload_uid": workload_uid[:64]},
            )
        query = parse_trend_query(start, end, type_, granularity, cost_mode, WORKLOAD.default_mode)
        points, first, last = await _dimension_points(
            request, principal, cluster_uuid, query, WORKLOAD_DIMENSION, workload
        )
        ref = ScopeRef(cluster_id=str(cluster_uuid), workload_uid=str(workload))
        return _response(request, WORKLOAD, query, points, ref, [], first, last)

    @get(
        "/clusters/{cluster_id:str}/node-groups/{name:str}/cost-trend",
        operation_id="getNodeGroupCostTrend",
        summary="Bill of the nodes of one node group (no cost_mode: a node group has one bill)",
        description="Each bucket is the sum of the node assets' totalCost of the nodes that "
        "were in the node group (node label, else the asset's pool) in each hour of the bucket "
        "(a relabelled node is billed to each group for its hours there; nodes that ran no pod "
        "count). Disks and load balancers are not node assets and are not included. "
        "type=breakdown gives that sum per bucket, run_rate projects it to a 730-hour month.",
        responses=_ERRORS,
    )
    async def node_group(
        self,
        request: Request[Any, Any, Any],
        cluster_id: str,
        name: str,
        start: str | None = _start(),
        end: str | None = _end(),
        type_: str | None = _type(),
        granularity: str | None = _granularity(),
        cost_mode: str | None = Parameter(
            query="cost_mode",
            required=False,
            description="Not accepted: any value is rejected with 422 INVALID_COST_MODE.",
        ),
    ) -> CostTrendResponse:
        principal = await _principal(request, NODE_GROUP)
        cluster_uuid = _cluster_uuid(cluster_id)
        query = parse_trend_query(start, end, type_, granularity, cost_mode, None)
        points, first, last = await _dimension_points(
            request, principal, cluster_uuid, query, NODE_GROUP_DIMENSION, name
        )
        ref = ScopeRef(cluster_id=str(cluster_uuid), node_group=name)
        return _response(request, NODE_GROUP, query, points, ref, [], first, last)

    @get(
        "/organizations/dashboard/cost-trend",
        operation_id="getOrganizationCostTrend",
        summary="Cost trend of every cluster of the organization the key can reach",
        responses=_ERRORS,
    )
    async def organization(
        self,
        request: Request[Any, Any, Any],
        start: str | None = _start(),
        end: str | None = _end(),
        type_: str | None = _type(),
        granularity: str | None = _granularity(),
        cost_mode: str | None = _cost_mode(),
    ) -> CostTrendResponse:
        principal = await _principal(request, ORGANIZATION)
        query = parse_trend_query(
            start, end, type_, granularity, cost_mode, ORGANIZATION.default_mode
        )
        pool: Pool = request.app.state.pool
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id FROM cluster WHERE organization_id = %s ORDER BY id",
                (principal.organization_id,),
            )
            clusters: list[uuid.UUID] = [row[0] for row in await cursor.fetchall()]
            allowed = principal.allowed_cluster_ids
            reachable = clusters if allowed is None else [c for c in clusters if c in allowed]
            # An empty allow-list reaches nothing: the spec answers it with an empty series and
            # an empty exclusion list, not 403.
            excluded = [] if not allowed else [str(c) for c in clusters if c not in allowed]
            window = anchored_window(query)
            if allowed is not None and not allowed:
                points: list[CostTrendPoint] = []
                first, last = window.start, window.end
            else:
                points, first, last = await _series(
                    request,
                    conn,
                    query,
                    sql.SQL("cluster_id = ANY(%(clusters)s)"),
                    {"clusters": reachable},
                    family=CLUSTER_TOTALS,
                )
        return _response(request, ORGANIZATION, query, points, None, excluded, first, last)
