"""The rollup queries behind every FinOps endpoint; sums are integer micro-units from SQL.

Which rollup answers is decided by the span and the output buckets (`source_resolution`), so a
30-day window reads about 30 rows per dimension combination, not 720 hourly ones.

Resource amounts are *direct* costs: each component column summed over the rows that are not
the idle pool (`idle`, `unmounted`). The pool's own CPU/RAM/... columns are skipped because its
cost already reaches every workload as `idle_share`; counting both would bill it twice. So for
any group, `cost + idle_share` = the resource amounts + `idle` + `other` (the few micro-units by
which Kubecost's total differs from its components).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from services.api.finops.params import ResourceType
from services.api.finops.scope import Scope
from services.api.finops.windows import Span, source_resolution
from shared.db.pool import Conn
from shared.timewindows import Resolution, utc

NIL_UUID = uuid.UUID(int=0)

TABLES = {
    Resolution.HOURLY: "cost_hourly",
    Resolution.DAILY: "cost_daily",
    Resolution.WEEKLY: "cost_weekly",
    Resolution.MONTHLY: "cost_monthly",
}
# One row per cluster and bucket, with the same sums as the detailed rows of that cluster and
# bucket (the aggregator maintains both in one transaction): organization-wide series read these.
CLUSTER_TABLES = {
    Resolution.HOURLY: "cost_cluster_hourly",
    Resolution.DAILY: "cost_cluster_daily",
    Resolution.WEEKLY: "cost_cluster_weekly",
    Resolution.MONTHLY: "cost_cluster_monthly",
}
TRUNC = {
    Resolution.HOURLY: "hour",
    Resolution.DAILY: "day",
    Resolution.WEEKLY: "week",
    Resolution.MONTHLY: "month",
}
COLUMNS = {
    ResourceType.CPU: "cpu_cost",
    ResourceType.RAM: "ram_cost",
    ResourceType.GPU: "gpu_cost",
    ResourceType.STORAGE: "pv_cost",
    ResourceType.NETWORK: "network_cost",
    ResourceType.LOAD_BALANCER: "load_balancer_cost",
    ResourceType.SHARED: "shared_cost",
    ResourceType.EXTERNAL: "external_cost",
}


def amount_sql(resource: ResourceType | None) -> sql.Composable:
    """Per-row money for the fully loaded total (None) or one resource type."""
    if resource is None:
        return sql.SQL("cost + idle_share")
    if resource is ResourceType.IDLE:
        return sql.SQL("idle_share")
    return sql.SQL("CASE WHEN kind IN ('idle', 'unmounted') THEN 0 ELSE {} END").format(
        sql.Identifier(COLUMNS[resource])
    )


_MEASURES = sql.SQL(", ").join(
    [sql.SQL("sum(cost + idle_share)"), sql.SQL("sum(cost)")]
    + [sql.SQL("sum({})").format(amount_sql(r)) for r in ResourceType]
)
_MEASURE_COUNT = 2 + len(ResourceType)


@dataclass(frozen=True)
class Measures:
    total: int
    workload: int
    resources: dict[ResourceType, int]

    @property
    def idle(self) -> int:
        return self.resources[ResourceType.IDLE]

    @property
    def other(self) -> int:
        return self.total - sum(self.resources.values())

    def amount(self, resource: ResourceType | None) -> int:
        return self.total if resource is None else self.resources[resource]

    @classmethod
    def of(cls, values: Sequence[object]) -> Measures:
        numbers = [0 if v is None else int(str(v)) for v in values]
        return cls(numbers[0], numbers[1], dict(zip(ResourceType, numbers[2:], strict=True)))

    @classmethod
    def zero(cls) -> Measures:
        return cls(0, 0, dict.fromkeys(ResourceType, 0))

    def __add__(self, other: Measures) -> Measures:
        return Measures(
            self.total + other.total,
            self.workload + other.workload,
            {r: self.resources[r] + other.resources[r] for r in ResourceType},
        )


def _bounds(span: Span) -> dict[str, object]:
    return {"start": span.start, "end": span.end}


async def bucket_totals(
    conn: Conn,
    scope: Scope,
    span: Span,
    granularity: Resolution,
    resource: ResourceType | None = None,
) -> list[tuple[datetime, int]]:
    """(bucket, amount) for every bucket in which the reachable clusters have any cost row.

    The orgId/userId filters go in a FILTER clause, not in WHERE, so a bucket where the
    organization has data but the filtered team or owner has none still comes back, as 0: the
    caller can tell "cost was zero" from "nothing was collected yet".

    With neither filter, the fully loaded total and the idle share are whole-cluster sums: they
    come from the per-cluster totals, one row per cluster and bucket instead of one per workload
    (a year of daily history is ~365 rows per cluster). Resource amounts exclude the idle pool's
    own rows, which the totals do not tell apart, so they read the detailed rows.
    """
    reach, params = scope.reach()
    filters, filter_params = scope.filters()
    resolution = source_resolution(span, granularity)
    whole_clusters = scope.team is None and scope.owner is None
    if whole_clusters and resource in (None, ResourceType.IDLE):
        table = CLUSTER_TABLES[resolution]
    else:
        table = TABLES[resolution]
    statement = sql.SQL(
        "SELECT date_trunc(%(unit)s, bucket, 'UTC') AS anchor,"
        " COALESCE(sum({amount}) FILTER (WHERE {filters}), 0)"
        " FROM {table} WHERE {reach} AND bucket >= %(start)s AND bucket < %(end)s"
        " GROUP BY anchor ORDER BY anchor"
    ).format(
        amount=amount_sql(resource),
        filters=filters,
        table=sql.Identifier(table),
        reach=reach,
    )
    cursor = await conn.execute(
        statement, {**params, **filter_params, **_bounds(span), "unit": TRUNC[granularity]}
    )
    return [(utc(row[0]), int(row[1])) for row in await cursor.fetchall()]


@dataclass(frozen=True)
class Grouped:
    key: tuple[object, ...]
    measures: Measures
    anchor: datetime | None = None


async def grouped(
    conn: Conn,
    scope: Scope,
    span: Span,
    dimensions: Sequence[str] = (),
    *,
    granularity: Resolution | None = None,
    largest: int | None = None,
    only: tuple[sql.Composable, dict[str, object]] | None = None,
) -> list[Grouped]:
    """Every measure per group (and per output bucket when `granularity` is given).

    `largest` keeps the groups with the highest fully loaded total, ties broken by key, in
    that order; `only` adds a condition such as a list of workload uids.
    """
    where, params = scope.where()
    if only is not None:
        where = sql.SQL("{} AND {}").format(where, only[0])
        params = {**params, **only[1]}
    keys: list[sql.Composable] = [sql.Identifier(d) for d in dimensions]
    if granularity is not None:
        keys.insert(0, sql.SQL("date_trunc(%(unit)s, bucket, 'UTC')"))
        params["unit"] = TRUNC[granularity]
    select = sql.SQL(", ").join([*keys, _MEASURES])
    statement = sql.SQL(
        "SELECT {select} FROM {table} WHERE {where} AND bucket >= %(start)s AND bucket < %(end)s"
    ).format(
        select=select,
        table=sql.Identifier(TABLES[source_resolution(span, granularity)]),
        where=where,
    )
    if keys:
        positions = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(keys)))
        statement += sql.SQL(" GROUP BY {}").format(positions)
        if largest is not None:
            statement += sql.SQL(" ORDER BY sum(cost + idle_share) DESC, {} LIMIT {}").format(
                positions, sql.Literal(largest)
            )
    cursor = await conn.execute(statement, {**params, **_bounds(span)})
    results = []
    offset = 1 if granularity is not None else 0
    for row in await cursor.fetchall():
        width = len(keys)
        results.append(
            Grouped(
                key=tuple(row[offset:width]),
                measures=Measures.of(row[width : width + _MEASURE_COUNT]),
                anchor=utc(row[0]) if granularity is not None else None,
            )
        )
    return results


async def totals(conn: Conn, scope: Scope, span: Span) -> Measures:
    rows = await grouped(conn, scope, span)
    return rows[0].measures if rows else Measures.zero()


@dataclass(frozen=True)
class Counts:
    clusters: int
    namespaces: int
    workloads: int
    services: int


async def counts(conn: Conn, scope: Scope, span: Span) -> Counts:
    """How many distinct clusters, namespaces, workloads and services had cost in the span."""
    where, params = scope.where()
    statement = sql.SQL(
        "SELECT count(DISTINCT cluster_id),"
        " count(DISTINCT (cluster_id, namespace)) FILTER (WHERE kind = 'workload'"
        " AND namespace <> ''),"
        " count(DISTINCT workload_uid) FILTER (WHERE workload_uid <> %(nil)s),"
        " count(DISTINCT service) FILTER (WHERE service <> '')"
        " FROM {table} WHERE {where} AND bucket >= %(start)s AND bucket < %(end)s"
    ).format(table=sql.Identifier(TABLES[source_resolution(span)]), where=where)
    cursor = await conn.execute(statement, {**params, **_bounds(span), "nil": NIL_UUID})
    row = await cursor.fetchone()
    assert row is not None
    return Counts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
