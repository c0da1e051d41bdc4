"""The data-health report: for each reachable cluster, which hours of the window the rollups hold,
where the holes are and why (the collector's recorded gaps), and how far behind the pipeline is.

Coverage counts hours present in the per-cluster hourly totals against the hours of the window
that have ended. An hour in progress is not expected yet. Missing hours are merged into ranges;
a range that overlaps a gap the collector recorded carries that gap's reason and attempts.

Besides the window asked for, each cluster lists its gap history: every gap occurrence that was
open at some moment since `history_since` (30 days back), healed or not, so an SRE sees how often
a source failed and how long each failure took to heal even when the data has long been complete.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.api.finops.scope import Scope
from services.api.finops.windows import Span
from shared.db.pool import Conn

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MissingRange:
    start: datetime
    end: datetime
    reason: str | None
    attempts: int | None

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)


@dataclass(frozen=True)
class GapOccurrence:
    start: datetime
    end: datetime
    reason: str
    attempts: int
    opened_at: datetime
    last_failed_at: datetime
    healed_at: datetime | None
    healed_by_start: datetime | None
    healed_by_end: datetime | None
    healed_by_fetch: str | None


@dataclass(frozen=True)
class ClusterHealth:
    cluster_id: uuid.UUID
    name: str
    expected_hours: int
    covered_hours: int
    last_ingested_end: datetime | None
    watermark: datetime | None
    missing: list[MissingRange]
    open_gaps: int
    gap_history: list[GapOccurrence]

    @property
    def coverage_percent(self) -> Decimal:
        if self.expected_hours == 0:
            return Decimal(100)
        ratio = Decimal(self.covered_hours * 100) / Decimal(self.expected_hours)
        return ratio.quantize(Decimal("0.01"))


# The hours of the window that hold a row of the per-cluster totals, in order: coverage counts
# those with rows behind them, and the hours between them (and the window's edges) are the
# missing ranges. Read once and walked here: a join of every expected hour against the table
# took three times as long as the rest of the report.
_HOURS = (
    "SELECT cluster_id, array_agg(bucket ORDER BY bucket), count(*) FILTER (WHERE row_count > 0)"
    " FROM cost_cluster_hourly"
    " WHERE cluster_id = ANY(%(clusters)s) AND bucket >= %(start)s AND bucket < %(end)s"
    " GROUP BY cluster_id"
)
# Per cluster, the newest hour by the (cluster_id, bucket) index: one row read per cluster, not
# every hourly row the cluster ever had.
_LAST = (
    "SELECT c.id, t.bucket + interval '1 hour' FROM unnest(%(clusters)s::uuid[]) AS c(id)"
    " CROSS JOIN LATERAL (SELECT bucket FROM cost_cluster_hourly WHERE cluster_id = c.id"
    " AND bucket < %(end)s ORDER BY bucket DESC LIMIT 1) AS t"
)
_WATERMARKS = (
    "SELECT cluster_id, watermark FROM collector_watermark WHERE cluster_id = ANY(%(clusters)s)"
)
_OPEN_GAPS = (
    "SELECT cluster_id, window_start, window_end, reason, attempts FROM collector_gap"
    " WHERE cluster_id = ANY(%(clusters)s) AND resolved_at IS NULL"
    " AND window_end > %(start)s AND window_start < %(end)s ORDER BY window_start"
)

_HISTORY = """
SELECT cluster_id, window_start, window_end, reason, attempts, opened_at, recorded_at,
       resolved_at, healed_by_start, healed_by_end, healed_by_fetch
FROM collector_gap
WHERE cluster_id = ANY(%(clusters)s) AND (resolved_at IS NULL OR resolved_at >= %(since)s)
ORDER BY cluster_id, opened_at DESC, window_start DESC, id DESC
"""


def missing_hours(present: list[datetime], span: Span) -> list[tuple[datetime, datetime]]:
    """The [start, end) ranges of the span's hours not in `present` (sorted hours of the span)."""
    ranges = []
    expected = span.start
    for hour in present:
        if hour > expected:
            ranges.append((expected, hour))
        expected = hour + HOUR
    if expected < span.end:
        ranges.append((expected, span.end))
    return ranges


@dataclass(frozen=True)
class Coverage:
    """What the rollups hold of a span, per cluster: a function of the rollups alone (and so
    kept under the clusters' data versions, like any answer), unlike the collector's watermarks
    and gaps, which are read on every request."""

    present: dict[uuid.UUID, list[datetime]]  # the span's hours with a row, in order
    covered: dict[uuid.UUID, int]  # of those, the hours with rows behind them
    last: dict[uuid.UUID, datetime]  # the end of each cluster's newest hour before the span's end


async def cluster_health(
    conn: Conn,
    scope: Scope,
    span: Span,
    *,
    history_since: datetime,
    coverage: Coverage | None = None,
) -> tuple[list[ClusterHealth], Coverage]:
    """The report's clusters, and the coverage it used (`coverage` when given, else read)."""
    clusters = scope.clusters
    if not clusters or span.end <= span.start:
        return [], Coverage({}, {}, {})
    params: dict[str, object] = {
        "clusters": clusters,
        "start": span.start,
        "end": span.end,
        "since": history_since,
    }
    # The independent reads, sent together (a pipeline): one round trip.
    async with conn.pipeline():
        if coverage is None:
            hour_rows = await conn.execute(_HOURS, params)
            last_rows = await conn.execute(_LAST, params)
        watermark_rows = await conn.execute(_WATERMARKS, params)
        gap_rows = await conn.execute(_OPEN_GAPS, params)
        history_rows = await conn.execute(_HISTORY, params)
    if coverage is None:
        present: dict[uuid.UUID, list[datetime]] = {}
        covered_hours: dict[uuid.UUID, int] = {}
        for cluster_id, hours, with_rows in await hour_rows.fetchall():
            present[cluster_id] = hours
            covered_hours[cluster_id] = int(with_rows)
        newest = {row[0]: row[1] for row in await last_rows.fetchall()}
        coverage = Coverage(present, covered_hours, newest)
    present, covered, last = coverage.present, coverage.covered, coverage.last
    watermarks = {row[0]: row[1] for row in await watermark_rows.fetchall()}
    gaps: dict[uuid.UUID, list[tuple[datetime, datetime, str, int]]] = {}
    for cluster_id, start, end, reason, attempts in await gap_rows.fetchall():
        gaps.setdefault(cluster_id, []).append((start, end, reason, attempts))
    missing: dict[uuid.UUID, list[MissingRange]] = {}
    for cluster_id in clusters:
        for start, end in missing_hours(present.get(cluster_id, []), span):
            recorded = [g for g in gaps.get(cluster_id, []) if g[0] < end and g[1] > start]
            missing.setdefault(cluster_id, []).append(
                MissingRange(
                    start,
                    end,
                    "; ".join(sorted({g[2] for g in recorded})) or None,
                    max(g[3] for g in recorded) if recorded else None,
                )
            )
    history: dict[uuid.UUID, list[GapOccurrence]] = {}
    for cluster_id, *fields in await history_rows.fetchall():
        history.setdefault(cluster_id, []).append(GapOccurrence(*fields))
    expected = int((span.end - span.start) / HOUR)
    report = [
        ClusterHealth(
            cluster_id=cluster_id,
            name=scope.cluster_names[cluster_id],
            expected_hours=expected,
            covered_hours=covered.get(cluster_id, 0),
            last_ingested_end=last.get(cluster_id),
            watermark=watermarks.get(cluster_id),
            missing=missing.get(cluster_id, []),
            open_gaps=len(gaps.get(cluster_id, [])),
            gap_history=history.get(cluster_id, []),
        )
        for cluster_id in clusters
    ]
    return report, coverage
