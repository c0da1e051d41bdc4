"""Time series: which buckets a series lists, and the daily trend rule.

A series starts at the first bucket in which the organization's reachable clusters have any cost
data (earlier buckets predate collection: showing them as 0 would drag every average down) and
runs, zero-filled, to the last bucket of the span that has begun. Inside that stretch a missing
bucket is a genuine zero for the filtered scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction

from services.api.finops.windows import Span
from shared.timewindows import Resolution, bucket_start, next_bucket

TREND_THRESHOLD = Fraction(2, 100)  # of the mean daily cost, per day


def timeline(
    rows: Sequence[tuple[datetime, int]], span: Span, granularity: Resolution, now: datetime
) -> list[tuple[datetime, int]]:
    if not rows:
        return []
    values = dict(rows)
    current = bucket_start(now, granularity)
    points = []
    anchor = rows[0][0]
    while anchor < span.end and anchor <= current:
        points.append((anchor, values.get(anchor, 0)))
        anchor = next_bucket(anchor, granularity)
    return points


def trend(values: Sequence[int]) -> str:
    """increasing / decreasing / stable, from the least-squares slope of the daily totals.

    The slope (cost per day) is divided by the mean daily cost; beyond +2 % a day the series is
    increasing, below -2 % decreasing, stable otherwise. Exact rational arithmetic, so a series
    sitting on the threshold always gets the same answer. Fewer than two days, or a mean that is
    not positive, is stable: there is no direction to speak of.
    """
    count = len(values)
    if count < 2:
        return "stable"
    mean = Fraction(sum(values), count)
    if mean <= 0:
        return "stable"
    x_mean = Fraction(count - 1, 2)
    spread = sum((i - x_mean) ** 2 for i in range(count))
    covariance = sum((i - x_mean) * (v - mean) for i, v in enumerate(values))
    relative = covariance / spread / mean
    if relative > TREND_THRESHOLD:
        return "increasing"
    if relative < -TREND_THRESHOLD:
        return "decreasing"
    return "stable"
