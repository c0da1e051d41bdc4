"""Reports made of time series: costs/monthly, costs/daily, costs/trends, costs/historical.

Totals are fully loaded (`cost + idle_share`): what a FinOps reader calls "what we spent",
every cost of the reachable clusters included. Grouped series show the largest groups and fold
the rest into "Other", so the groups of a bucket always add up to its total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.api.finops.groups import (
    DIMENSIONS,
    OTHER_KEY,
    Group,
    dimension_groups,
    largest_first,
    resource_groups,
)
from services.api.finops.numbers import amount, average, change_percent
from services.api.finops.params import GroupBy, ResourceType
from services.api.finops.queries import Measures, bucket_totals, grouped
from services.api.finops.schemas import (
    CostPoint,
    CostTrends,
    DailyCosts,
    DailySummary,
    Filters,
    GroupSeries,
    HistoricalCosts,
    MonthlyCosts,
    MonthlySummary,
    TrendGroup,
    TrendPoint,
)
from services.api.finops.scope import Scope
from services.api.finops.series import timeline, trend
from services.api.finops.windows import Span, Window
from shared.db.pool import Conn
from shared.timewindows import Resolution, bucket_start, isoformat_z, next_bucket

SERIES_GROUPS = 20


def cost_points(points: Sequence[tuple[datetime, int]]) -> list[CostPoint]:
    return [CostPoint(isoformat_z(anchor), amount(micros)) for anchor, micros in points]


def trend_points(points: Sequence[tuple[datetime, int]]) -> list[TrendPoint]:
    """Each point with its change from the point before (none for the first)."""
    result = []
    previous: int | None = None
    for anchor, micros in points:
        result.append(
            TrendPoint(
                isoformat_z(anchor),
                amount(micros),
                None if previous is None else amount(micros - previous),
                None if previous is None else change_percent(micros, previous),
            )
        )
        previous = micros
    return result


def month_span(months: int, year: int | None, now: datetime) -> Span:
    """The last `months` months up to the current one, or up to December of `year`."""
    end = next_bucket(bucket_start(now, Resolution.MONTHLY), Resolution.MONTHLY)
    if year is not None:
        end = min(end, datetime(year + 1, 1, 1, tzinfo=UTC))
    start = Window(months, "m").back_from(end)
    if year is not None:
        start = max(start, datetime(year, 1, 1, tzinfo=UTC))
    return Span(start, end)


def monthly_summary(points: Sequence[tuple[datetime, int]]) -> MonthlySummary:
    """Average over the listed months; ties for highest/lowest go to the earliest month."""
    if not points:
        return MonthlySummary(amount(0), None, None)
    highest = min(points, key=lambda p: (-p[1], p[0]))
    lowest = min(points, key=lambda p: (p[1], p[0]))
    total = sum(micros for _, micros in points)
    return MonthlySummary(
        average(total, len(points)), *cost_points([highest]), *cost_points([lowest])
    )


async def monthly_costs(
    conn: Conn, scope: Scope, months: int, year: int | None, now: datetime
) -> MonthlyCosts:
    span = month_span(months, year, now)
    rows = await bucket_totals(conn, scope, span, Resolution.MONTHLY)
    points = timeline(rows, span, Resolution.MONTHLY, now)
    return MonthlyCosts(cost_points(points), monthly_summary(points))


async def daily_costs(
    conn: Conn, scope: Scope, span: Span, resource: ResourceType | None, now: datetime
) -> DailyCosts:
    rows = await bucket_totals(conn, scope, span, Resolution.DAILY, resource)
    points = timeline(rows, span, Resolution.DAILY, now)
    total = sum(micros for _, micros in points)
    summary = DailySummary(
        amount(total), average(total, len(points)), trend([m for _, m in points])
    )
    return DailyCosts(cost_points(points), summary)


@dataclass(frozen=True)
class GroupedSeries:
    group: Group
    points: list[tuple[datetime, int]]


@dataclass(frozen=True)
class SeriesReport:
    points: list[tuple[datetime, int]]
    groups: list[GroupedSeries]

    @property
    def total(self) -> int:
        return sum(micros for _, micros in self.points)


async def _bucket_groups(
    conn: Conn, scope: Scope, span: Span, granularity: Resolution, group_by: GroupBy
) -> list[tuple[datetime, Group]]:
    if group_by is GroupBy.RESOURCE_TYPE:
        rows = await grouped(conn, scope, span, granularity=granularity)
        return [
            (row.anchor, group)
            for row in rows
            if row.anchor is not None
            for group in resource_groups(row.measures)
        ]
    rows = await grouped(conn, scope, span, DIMENSIONS[group_by], granularity=granularity)
    labelled = await dimension_groups(conn, scope, group_by, rows)
    return [(row.anchor, group) for row, group in zip(rows, labelled, strict=True) if row.anchor]


def _split_groups(
    pairs: Sequence[tuple[datetime, Group]], anchors: Sequence[datetime]
) -> list[GroupedSeries]:
    """Per-group series over `anchors`; the largest SERIES_GROUPS kept, the rest as Other."""
    wanted = set(anchors)
    by_key: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    names: dict[str, str] = {}
    for anchor, group in pairs:
        if anchor in wanted:
            by_key[group.group_key][anchor] += group.measures.total
            names[group.group_key] = group.name
    overall = [
        Group(key, names[key], _total_only(sum(values.values())))
        for key, values in by_key.items()
        if any(values.values())
    ]
    ranked = largest_first(overall, SERIES_GROUPS)
    kept = {g.group_key for g in ranked[:SERIES_GROUPS]}
    result = []
    for group in ranked:
        if group.group_key == OTHER_KEY and len(ranked) > SERIES_GROUPS:
            keys = [k for k in by_key if k not in kept]
        else:
            keys = [group.group_key]
        points = [(a, sum(by_key[k].get(a, 0) for k in keys)) for a in anchors]
        result.append(GroupedSeries(group, points))
    return result


def _total_only(micros: int) -> Measures:
    """Series groups are ranked by their fully loaded total only; no resource split is kept."""
    return Measures(micros, micros, dict.fromkeys(ResourceType, 0))


async def series_report(
    conn: Conn,
    scope: Scope,
    span: Span,
    granularity: Resolution,
    group_by: GroupBy | None,
    now: datetime,
) -> SeriesReport:
    rows = await bucket_totals(conn, scope, span, granularity)
    points = timeline(rows, span, granularity, now)
    if group_by is None or not points:
        return SeriesReport(points, [])
    pairs = await _bucket_groups(conn, scope, span, granularity, group_by)
    return SeriesReport(points, _split_groups(pairs, [a for a, _ in points]))


async def cost_trends(
    conn: Conn,
    scope: Scope,
    window: Window,
    span: Span,
    granularity: Resolution,
    group_by: GroupBy | None,
    now: datetime,
) -> CostTrends:
    report = await series_report(conn, scope, span, granularity, group_by, now)
    groups = [
        TrendGroup(
            s.group.group_key, s.group.name, amount(s.group.measures.total), trend_points(s.points)
        )
        for s in report.groups
    ]
    return CostTrends(
        window=window.text,
        period_start=isoformat_z(span.start),
        period_end=isoformat_z(span.end),
        granularity=granularity.value,
        group_by=None if group_by is None else group_by.value,
        total_cost=amount(report.total),
        points=trend_points(report.points),
        groups=groups,
    )


async def historical_costs(
    conn: Conn, scope: Scope, span: Span, group_by: GroupBy | None, now: datetime
) -> HistoricalCosts:
    report = await series_report(conn, scope, span, Resolution.DAILY, group_by, now)
    groups = [
        GroupSeries(
            s.group.group_key, s.group.name, amount(s.group.measures.total), cost_points(s.points)
        )
        for s in report.groups
    ]
    return HistoricalCosts(
        period_start=isoformat_z(span.start),
        period_end=isoformat_z(span.end),
        granularity=Resolution.DAILY.value,
        group_by=None if group_by is None else group_by.value,
        filters=Filters(org_id=scope.team, user_id=scope.owner),
        total_cost=amount(report.total),
        points=cost_points(report.points),
        groups=groups,
    )
