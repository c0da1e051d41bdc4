"""Reports that rank groups over one span: costs/services, costs/breakdown, the top drivers and
the dashboard statistics.

Lists keep the largest LIST_GROUPS groups and fold the rest into one "Other" item, so the items
always add up to the total; groups whose amount is exactly zero are left out (the idle pool's
own rows, for instance, carry no cost once it has been shared out).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from psycopg import sql

from services.api.finops.groups import (
    DIMENSIONS,
    Group,
    dimension_groups,
    largest_first,
    resource_groups,
    workload_label,
    workload_names,
)
from services.api.finops.numbers import amount, average, change_percent, percent
from services.api.finops.params import GroupBy, ResourceType
from services.api.finops.queries import Measures, counts, grouped, totals
from services.api.finops.schemas import (
    BreakdownItem,
    CostBreakdown,
    DashboardStats,
    Driver,
    Filters,
    ServiceCost,
    ServiceCosts,
    TopDrivers,
)
from services.api.finops.scope import Scope
from services.api.finops.windows import Span, Window
from shared.db.pool import Conn
from shared.timewindows import floor_hour, isoformat_z

LIST_GROUPS = 100
HOUR = timedelta(hours=1)


def resource_amounts(measures: Measures, only: ResourceType | None = None) -> dict[str, Decimal]:
    """Every resource type plus `other`, which together add up to the total; or just `only`."""
    if only is not None:
        return {only.value: amount(measures.resources[only])}
    amounts = {r.value: amount(v) for r, v in measures.resources.items()}
    amounts["other"] = amount(measures.other)
    return amounts


async def service_costs(conn: Conn, scope: Scope, span: Span) -> ServiceCosts:
    rows = await grouped(conn, scope, span, DIMENSIONS[GroupBy.SERVICE])
    labelled = await dimension_groups(conn, scope, GroupBy.SERVICE, rows)
    groups = [g for g in labelled if g.measures.total]
    items = []
    for group in largest_first(groups, LIST_GROUPS):
        r = group.measures.resources
        shown = sum(
            r[t]
            for t in (
                ResourceType.CPU,
                ResourceType.RAM,
                ResourceType.STORAGE,
                ResourceType.NETWORK,
                ResourceType.GPU,
                ResourceType.IDLE,
            )
        )
        items.append(
            ServiceCost(
                group_key=group.group_key,
                name=group.name,
                total_cost=amount(group.measures.total),
                cpu_cost=amount(r[ResourceType.CPU]),
                ram_cost=amount(r[ResourceType.RAM]),
                storage_cost=amount(r[ResourceType.STORAGE]),
                network_cost=amount(r[ResourceType.NETWORK]),
                gpu_cost=amount(r[ResourceType.GPU]),
                other_cost=amount(group.measures.total - shown),
                idle_cost=amount(r[ResourceType.IDLE]),
            )
        )
    total = sum(g.measures.total for g in groups)
    return ServiceCosts(items, amount(total), isoformat_z(span.start), isoformat_z(span.end))


async def breakdown_groups(
    conn: Conn, scope: Scope, span: Span, group_by: GroupBy, resource: ResourceType | None
) -> list[Group]:
    if group_by is GroupBy.RESOURCE_TYPE:
        groups = resource_groups(await totals(conn, scope, span))
        if resource is not None:
            groups = [g for g in groups if g.group_key == resource.value]
    else:
        rows = await grouped(conn, scope, span, DIMENSIONS[group_by])
        groups = await dimension_groups(conn, scope, group_by, rows)
    return [g for g in groups if g.measures.amount(resource)]


async def cost_breakdown(
    conn: Conn,
    scope: Scope,
    window: Window,
    group_by: GroupBy,
    resource: ResourceType | None,
    now: datetime,
) -> CostBreakdown:
    span = window.ending_now(now)
    groups = await breakdown_groups(conn, scope, span, group_by, resource)
    return CostBreakdown(
        window=window.text,
        period_start=isoformat_z(span.start),
        period_end=isoformat_z(span.end),
        group_by=group_by.value,
        filters=Filters(scope.team, scope.owner, None if resource is None else resource.value),
        total_cost=amount(sum(g.measures.amount(resource) for g in groups)),
        items=breakdown_items(groups, resource),
    )


def breakdown_items(groups: list[Group], resource: ResourceType | None) -> list[BreakdownItem]:
    total = sum(g.measures.amount(resource) for g in groups)
    return [
        BreakdownItem(
            group.group_key,
            group.name,
            amount(group.measures.amount(resource)),
            percent(group.measures.amount(resource), total),
            resource_amounts(group.measures, resource),
        )
        for group in largest_first(groups, LIST_GROUPS, resource)
    ]


_WORKLOAD = DIMENSIONS[GroupBy.WORKLOAD]


async def drivers(
    conn: Conn, scope: Scope, span: Span, previous: Span, limit: int
) -> tuple[list[Driver], Measures, Measures]:
    """The `limit` most expensive workloads of `span`, each compared with `previous`."""
    rows = [
        r for r in await grouped(conn, scope, span, _WORKLOAD, largest=limit) if r.measures.total
    ]
    uids = sorted({r.key[2] for r in rows if isinstance(r.key[2], uuid.UUID)})
    before = await grouped(
        conn,
        scope,
        previous,
        _WORKLOAD,
        only=(sql.SQL("workload_uid = ANY(%(uids)s)"), {"uids": uids}),
    )
    previous_costs = {r.key: r.measures.total for r in before}
    current_total = await totals(conn, scope, span)
    previous_total = await totals(conn, scope, previous)
    names = await workload_names(conn, uids)
    result = []
    for rank, row in enumerate(rows, start=1):
        cluster_id, namespace, uid, kind = row.key
        assert isinstance(cluster_id, uuid.UUID)
        assert isinstance(uid, uuid.UUID)
        group_key, name = workload_label(row.key, names)
        known = names.get(uid)
        before_cost = previous_costs.get(row.key, 0)
        result.append(
            Driver(
                rank=rank,
                group_key=group_key,
                name=name,
                kind=known.kind if known else str(kind),
                cluster_id=str(cluster_id),
                cluster_name=scope.cluster_names.get(cluster_id, str(cluster_id)),
                namespace=str(namespace),
                total_cost=amount(row.measures.total),
                share_percent=percent(row.measures.total, current_total.total),
                previous_cost=amount(before_cost),
                change=amount(row.measures.total - before_cost),
                change_percent=change_percent(row.measures.total, before_cost),
            )
        )
    return result, current_total, previous_total


async def top_drivers(
    conn: Conn, scope: Scope, window: Window, compare: Window, limit: int, now: datetime
) -> TopDrivers:
    span = window.ending_now(now)
    previous = compare.before(span)
    ranked, current, before = await drivers(conn, scope, span, previous, limit)
    return TopDrivers(
        window=window.text,
        period_start=isoformat_z(span.start),
        period_end=isoformat_z(span.end),
        compare_window=compare.text,
        compare_start=isoformat_z(previous.start),
        compare_end=isoformat_z(previous.end),
        total_cost=amount(current.total),
        previous_total_cost=amount(before.total),
        drivers=ranked,
    )


def elapsed_hours(span: Span, now: datetime) -> int:
    """Hours of the span that have begun (the current hour counts)."""
    end = min(span.end, floor_hour(now) + HOUR)
    return max(0, int((end - span.start).total_seconds()) // 3600)


async def dashboard_stats(
    conn: Conn,
    scope: Scope,
    window: Window,
    now: datetime,
    known: tuple[Measures, Measures] | None = None,
) -> DashboardStats:
    """`known`: the totals of the period and of the one before, when the caller read them."""
    span = window.ending_now(now)
    previous = window.before(span)
    if known is None:
        current, before = await totals(conn, scope, span), await totals(conn, scope, previous)
    else:
        current, before = known
    seen = await counts(conn, scope, span)
    return DashboardStats(
        period=window.text,
        period_start=isoformat_z(span.start),
        period_end=isoformat_z(span.end),
        total_cost=amount(current.total),
        workload_cost=amount(current.workload),
        idle_cost=amount(current.idle),
        idle_percent=percent(current.idle, current.total),
        daily_average=average(current.total * 24, elapsed_hours(span, now)),
        previous_total_cost=amount(before.total),
        change=amount(current.total - before.total),
        change_percent=change_percent(current.total, before.total),
        resources=resource_amounts(current),
        cluster_count=seen.clusters,
        namespace_count=seen.namespaces,
        workload_count=seen.workloads,
        service_count=seen.services,
    )
