"""costs/savings: recommendations per workload over the last LOOKBACK_DAYS complete days.

The lookback ends at today's midnight (UTC): today is still being collected, and a partial day
would understate usage and cost alike. Whole days let one daily (or weekly) rollup answer. Only
real workloads are judged; the idle pool and unallocated rows have nobody to act on them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from psycopg import sql

from services.api.finops.efficiency import UsageRow, quantity, rate, usage_by
from services.api.finops.efficiency_schemas import (
    CostSavings,
    ResourceAdvice,
    SavingsFilters,
    SavingsRecommendation,
)
from services.api.finops.groups import WorkloadName, workload_names
from services.api.finops.numbers import amount
from services.api.finops.queries import NIL_UUID
from services.api.finops.savings import Finding, Lookback, SavingsCategory, findings
from services.api.finops.savings_text import recommendation
from services.api.finops.scope import Scope
from services.api.finops.windows import Span
from shared.db.pool import Conn
from shared.timewindows import Resolution, bucket_start, isoformat_z

LOOKBACK_DAYS = 7
_WORKLOAD_KEY = ("cluster_id", "namespace", "workload_uid")
_WORKLOADS: tuple[sql.Composable, dict[str, object]] = (
    sql.SQL("kind = 'workload' AND workload_uid <> %(nil)s"),
    {"nil": NIL_UUID},
)


def lookback_span(now: datetime) -> Span:
    end = bucket_start(now, Resolution.DAILY)
    return Span(end - timedelta(days=LOOKBACK_DAYS), end)


def _advice(finding: Finding) -> list[ResourceAdvice]:
    return [
        ResourceAdvice(
            resource=r.name,
            unit=r.unit,
            request=quantity(r.request),
            usage=quantity(r.usage),
            efficiency=rate(r.efficiency),
            recommended_request=quantity(r.recommended),
            potential_savings=amount(r.savings),
        )
        for r in finding.resources
    ]


def _recommendation(
    scope: Scope,
    row: UsageRow,
    names: dict[uuid.UUID, WorkloadName],
    finding: Finding,
    lookback: Lookback,
) -> SavingsRecommendation:
    cluster_id, namespace, uid = row.key
    assert isinstance(cluster_id, uuid.UUID)
    assert isinstance(uid, uuid.UUID)
    name = names.get(uid)
    return SavingsRecommendation(
        resource=f"{namespace}/{name.name}" if name else str(uid),
        category=finding.category.value,
        current_cost=amount(lookback.monthly(row.usage.loaded)),
        potential_savings=amount(finding.savings),
        efficiency=rate(finding.efficiency),
        recommendation=recommendation(finding, LOOKBACK_DAYS),
        workload_uid=str(uid),
        kind=name.kind if name else "",
        cluster_id=str(cluster_id),
        cluster_name=scope.cluster_names.get(cluster_id, str(cluster_id)),
        namespace=str(namespace),
        resources=_advice(finding),
    )


async def cost_savings(
    conn: Conn,
    scope: Scope,
    category: SavingsCategory | None,
    min_savings: Decimal | None,
    now: datetime,
) -> CostSavings:
    span = lookback_span(now)
    lookback = Lookback(hours=LOOKBACK_DAYS * 24)
    rows = await usage_by(conn, scope, span, _WORKLOAD_KEY, _WORKLOADS)
    chosen = [
        (finding, row)
        for row in rows
        for finding in findings(row.usage, lookback)
        if category in (None, finding.category)
        and (min_savings is None or amount(finding.savings) >= min_savings)
    ]
    names = await workload_names(
        conn, [u for _, r in chosen if isinstance(u := r.key[2], uuid.UUID)]
    )
    ranked = sorted(
        ((f.savings, _recommendation(scope, row, names, f, lookback)) for f, row in chosen),
        key=lambda pair: (-pair[0], pair[1].resource, pair[1].category, pair[1].workload_uid),
    )
    return CostSavings(
        recommendations=[r for _, r in ranked],
        total_potential_savings=amount(sum(s for s, _ in ranked)),
        period_start=isoformat_z(span.start),
        period_end=isoformat_z(span.end),
        lookback_days=LOOKBACK_DAYS,
        filters=SavingsFilters(
            category=None if category is None else category.value, min_savings=min_savings
        ),
    )
