"""costs/efficiency: CPU, RAM and GPU usage over request per group, over one window.

Groups are the breakdown's dimensions (`resource_type` excepted: a resource split of usage over
request is the item's own cpu/ram/gpu figures). The idle pool is left out: it has cost but no
requests, and its cost already reaches the workloads as their idle share.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from psycopg import sql

from services.api.errors import validation_error
from services.api.finops.efficiency import (
    NOT_IDLE_POOL,
    Usage,
    core_hours,
    gib_hours,
    rate,
    usage_by,
)
from services.api.finops.efficiency_schemas import (
    CostEfficiency,
    EfficiencyFigures,
    EfficiencyItem,
)
from services.api.finops.groups import DIMENSIONS, OTHER_KEY, OTHER_NAME, labels
from services.api.finops.numbers import amount
from services.api.finops.params import GROUP_ALIASES, GroupBy
from services.api.finops.rankings import LIST_GROUPS
from services.api.finops.scope import Scope
from services.api.finops.windows import Window
from shared.db.pool import Conn
from shared.timewindows import isoformat_z

AGGREGATES = [g.value for g in GroupBy if g in DIMENSIONS] + list(GROUP_ALIASES)


def aggregate(raw: str | None) -> GroupBy:
    """A breakdown dimension (default namespace); anything else is 422 with the allowed list."""
    if raw is None:
        return GroupBy.NAMESPACE
    text = raw.strip().lower()
    chosen = GROUP_ALIASES.get(text) or next((g for g in DIMENSIONS if g.value == text), None)
    if chosen is None:
        raise validation_error(
            f"'aggregate' must be one of {', '.join(AGGREGATES)}",
            parameter="aggregate",
            allowed=AGGREGATES,
        )
    return chosen


def figures(usage: Usage) -> EfficiencyFigures:
    return EfficiencyFigures(
        cpu_efficiency=rate(usage.cpu_efficiency),
        ram_efficiency=rate(usage.ram_efficiency),
        gpu_efficiency=rate(usage.gpu_efficiency),
        efficiency=rate(usage.total_efficiency),
        cpu_core_hours_requested=core_hours(usage.cpu_request),
        cpu_core_hours_used=core_hours(usage.cpu_usage),
        ram_gib_hours_requested=gib_hours(usage.ram_request),
        ram_gib_hours_used=gib_hours(usage.ram_usage),
        gpu_hours_requested=core_hours(usage.gpu_request),
        gpu_hours_used=core_hours(usage.gpu_usage),
        cpu_cost=amount(usage.cpu_cost),
        ram_cost=amount(usage.ram_cost),
        gpu_cost=amount(usage.gpu_cost),
        total_cost=amount(usage.loaded),
    )


def item(group_key: str, name: str, usage: Usage) -> EfficiencyItem:
    return EfficiencyItem(group_key=group_key, name=name, **msgspec.structs.asdict(figures(usage)))


def largest_first(groups: list[tuple[str, str, Usage]]) -> list[EfficiencyItem]:
    """By fully loaded cost, ties by key; beyond LIST_GROUPS the rest is folded into "Other".

    Quantities and costs are sums, so the folded item's ratios are exact for what it holds.
    """
    ordered = sorted(groups, key=lambda g: (-g[2].loaded, g[0]))
    items = [item(*g) for g in ordered[:LIST_GROUPS]]
    if len(ordered) > LIST_GROUPS:
        rest = Usage()
        for _, _, usage in ordered[LIST_GROUPS:]:
            rest = rest + usage
        items.append(item(OTHER_KEY, OTHER_NAME, rest))
    return items


async def cost_efficiency(
    conn: Conn,
    scope: Scope,
    window: Window,
    group_by: GroupBy,
    namespace: str | None,
    now: datetime,
) -> CostEfficiency:
    span = window.ending_now(now)
    condition: sql.Composable = NOT_IDLE_POOL
    params: dict[str, object] = {}
    if namespace is not None:
        condition = sql.SQL("{} AND namespace = %(namespace)s").format(condition)
        params = {"namespace": namespace}
    rows = [
        r
        for r in await usage_by(conn, scope, span, DIMENSIONS[group_by], (condition, params))
        if not r.usage.is_empty()
    ]
    names = await labels(conn, scope, group_by, [r.key for r in rows])
    total = Usage()
    for row in rows:
        total = total + row.usage
    return CostEfficiency(
        window=window.text,
        period_start=isoformat_z(span.start),
        period_end=isoformat_z(span.end),
        aggregate=group_by.value,
        namespace=namespace,
        total=figures(total),
        items=largest_first([(*names[r.key], r.usage) for r in rows]),
    )
