"""GET costs/anomalies: which series are examined, over which days, and the answer's shape.

Series: the organization's fully loaded daily total, and one per (cluster, namespace) for the
TOP_NAMESPACES namespaces with the highest cost in the requested days. Each is read from
cost_daily over the requested days plus LOOKBACK_DAYS before them (to learn the trend and the
weekly pattern), starting at its own first day with data, ending yesterday: today is still being
collected and would always look like a drop. Rows without a namespace (unallocated cost) count
in the organization's total but are no namespace of their own.

Answers are stored like forecasts (`model_answer`, keyed by the digest of every series judged,
the requested days and the threshold): the STL fits of eleven series take most of a request, and
the answer changes only when a series does, so the same input asked again is read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from services.api.finops.analysis_schemas import Anomaly, AnomalyPeriod, AnomalyScope, CostAnomalies
from services.api.finops.anomalies import MIN_HISTORY_DAYS, flag_days
from services.api.finops.modelling import (
    input_digest,
    run_model,
    scope_key,
    store_answer,
    stored_answer,
)
from services.api.finops.numbers import amount, percent
from services.api.finops.projection import micros
from services.api.finops.queries import bucket_totals
from services.api.finops.scope import Scope
from services.api.finops.series import timeline
from services.api.finops.windows import Span
from shared.db.pool import Conn, Pool
from shared.money import MICROS_PER_UNIT
from shared.timewindows import Resolution, bucket_start, isoformat_z, utc

LOOKBACK_DAYS = 56  # eight weeks before the first day examined
TOP_NAMESPACES = 10
MAX_ANOMALIES = 100
DAY = timedelta(days=1)
ORGANIZATION = AnomalyScope("organization")

_NAMESPACE_SERIES = """
WITH top AS (
    SELECT cluster_id, namespace FROM cost_daily
    WHERE cluster_id = ANY(%(clusters)s) AND namespace <> ''
      AND bucket >= %(window_start)s AND bucket < %(end)s
    GROUP BY cluster_id, namespace
    HAVING sum(cost + idle_share) > 0
    ORDER BY sum(cost + idle_share) DESC, cluster_id, namespace
    LIMIT %(limit)s
)
SELECT c.cluster_id, c.namespace, date_trunc('day', c.bucket, 'UTC') AS day,
       sum(c.cost + c.idle_share)
FROM cost_daily c JOIN top USING (cluster_id, namespace)
WHERE c.cluster_id = ANY(%(clusters)s) AND c.bucket >= %(start)s AND c.bucket < %(end)s
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""


@dataclass(frozen=True)
class ScopedSeries:
    scope: AnomalyScope
    points: list[tuple[datetime, int]]  # micro-units per complete day, oldest first


@dataclass(frozen=True)
class Spans:
    fit: Span  # lookback + the requested days
    window: Span  # the requested days: the last `days` complete days

    @classmethod
    def of(cls, days: int, now: datetime) -> Spans:
        end = bucket_start(now, Resolution.DAILY)
        start = end - days * DAY
        return cls(Span(start - LOOKBACK_DAYS * DAY, end), Span(start, end))


async def namespace_series(
    conn: Conn, scope: Scope, spans: Spans, now: datetime
) -> list[ScopedSeries]:
    cursor = await conn.execute(
        _NAMESPACE_SERIES,
        {
            "clusters": scope.clusters,
            "window_start": spans.window.start,
            "start": spans.fit.start,
            "end": spans.fit.end,
            "limit": TOP_NAMESPACES,
        },
    )
    rows: dict[tuple[uuid.UUID, str], list[tuple[datetime, int]]] = defaultdict(list)
    for cluster_id, namespace, day, total in await cursor.fetchall():
        rows[(cluster_id, namespace)].append((utc(day), int(total)))
    return [
        ScopedSeries(
            AnomalyScope(
                "namespace",
                cluster_id=str(cluster_id),
                cluster_name=scope.cluster_names.get(cluster_id, str(cluster_id)),
                namespace=namespace,
            ),
            timeline(series, spans.fit, Resolution.DAILY, now),
        )
        for (cluster_id, namespace), series in rows.items()
    ]


async def all_series(conn: Conn, scope: Scope, spans: Spans, now: datetime) -> list[ScopedSeries]:
    """The organization's series first, then the namespaces'."""
    totals = await bucket_totals(conn, scope, spans.fit, Resolution.DAILY)
    organization = ScopedSeries(ORGANIZATION, timeline(totals, spans.fit, Resolution.DAILY, now))
    return [organization, *await namespace_series(conn, scope, spans, now)]


def _score(value: float) -> Decimal:
    return Decimal(repr(abs(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _anomalies(
    series: ScopedSeries, window_start: datetime, threshold: float
) -> list[Anomaly] | None:
    """The series' anomalies in the requested days; None when the series cannot be judged."""
    values = [m / MICROS_PER_UNIT for _, m in series.points]
    first = next((i for i, (day, _) in enumerate(series.points) if day >= window_start), 0)
    flags = flag_days(values, first, threshold)
    if flags is None:
        return None
    result = []
    for flag in flags:
        day, actual = series.points[flag.index]
        expected = micros(flag.expected)
        result.append(
            Anomaly(
                scope=series.scope,
                date=isoformat_z(day),
                expected=amount(expected),
                actual=amount(actual),
                deviation=amount(actual - expected),
                deviation_percent=percent(actual - expected, expected),
                score=_score(flag.score),
                direction=flag.direction,
            )
        )
    return result


def _reason(organization: ScopedSeries) -> str:
    """Why the organization's series could not be judged."""
    days = len(organization.points)
    if days == 0:
        return "there is no cost data yet for the clusters this key can see"
    if days < MIN_HISTORY_DAYS:
        return (
            f"anomaly detection needs at least {MIN_HISTORY_DAYS} complete days of cost "
            f"history; there are {days}"
        )
    return "the organization's median daily cost is zero: no day can be told from the usual"


def _sort_key(anomaly: Anomaly) -> tuple[Decimal, str, str, str]:
    scope = anomaly.scope
    return (-anomaly.score, anomaly.date, scope.cluster_id or "", scope.namespace or "")


def find_anomalies(
    series: Sequence[ScopedSeries], spans: Spans, days: int, threshold: Decimal
) -> CostAnomalies:
    """Every series judged; the anomalies of the requested days, highest score first.

    `series[0]` is the organization's: when it cannot be judged, `reason` says why.
    """
    found: list[Anomaly] = []
    analysed = 0
    reason = None
    for index, one in enumerate(series):
        judged = _anomalies(one, spans.window.start, float(threshold))
        if judged is None:
            if index == 0:
                reason = _reason(one)
            continue
        analysed += 1
        found += judged
    found.sort(key=_sort_key)
    return CostAnomalies(
        anomalies=found[:MAX_ANOMALIES],
        period=AnomalyPeriod(
            days, threshold, isoformat_z(spans.window.start), isoformat_z(spans.window.end)
        ),
        scopes_analysed=analysed,
        total_found=len(found),
        reason=reason,
    )


async def anomalies_for(
    pool: Pool, scope: Scope, days: int, threshold: Decimal, now: datetime
) -> CostAnomalies:
    """The answer a request asked at `now` gets: the series read (the connection given back
    before any fit), then the stored answer for them or a new judgement."""
    spans = Spans.of(days, now)
    async with pool.connection() as conn:
        series = await all_series(conn, scope, spans, now)
    return await stored_anomalies(pool, scope_key(scope), series, spans, days, threshold, now)


async def anomaly_answer(
    series: Sequence[ScopedSeries], spans: Spans, days: int, threshold: Decimal
) -> CostAnomalies:
    return await run_model(find_anomalies, series, spans, days, threshold)


def _digest_parts(series: Sequence[ScopedSeries]) -> list[object]:
    return [[one.scope, one.points] for one in series]


async def stored_anomalies(
    pool: Pool,
    scope_key: str,
    series: Sequence[ScopedSeries],
    spans: Spans,
    days: int,
    threshold: Decimal,
    now: datetime,
) -> CostAnomalies:
    """The answer stored for exactly these series and parameters, or judged now and stored."""
    digest = input_digest(
        b"anomalies-1", _digest_parts(series), spans.fit.start, spans.window.start, days, threshold
    )
    found = await stored_answer(pool, "anomalies", scope_key, digest, CostAnomalies)
    if found is not None:
        return found
    answer = await anomaly_answer(series, spans, days, threshold)
    answer.computed_at = isoformat_z(now)
    answer.data_through = isoformat_z(spans.fit.end)
    await store_answer(pool, "anomalies", scope_key, digest, answer, spans.fit.end)
    return answer
