"""The aggregator's side of the `continuous` rollup mode: refresh what a batch touched.

In continuous mode the rollups are continuous aggregates that TimescaleDB derives from the raw
hypertables, so a batch writes raw rows only. Real-time aggregation shows rows newer than an
aggregate's watermark, but a restatement of an older window changes buckets that are already
materialized, and those stay stale until they are refreshed. So after each batch's commit, and
before its Kafka offsets are committed, the buckets it touched are refreshed level by level
(hourly before the daily built on it, daily before weekly and monthly). A crash in between replays
the batch, whose writes change nothing, and the refresh runs again: the rollups never stay behind
an acknowledged batch. `refresh_continuous_aggregate` cannot run inside a transaction block, hence
an autocommit connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.aggregator.rollups import RollupLevel
from shared.db.pool import Conn, Pool

log = logging.getLogger(__name__)


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _day(t: datetime) -> datetime:
    return _hour(t).replace(hour=0)


def _week(t: datetime) -> datetime:
    """Monday, like time_bucket('1 week', ...) whose origin 2000-01-03 is a Monday."""
    return _day(t) - timedelta(days=t.weekday())


def _month(t: datetime) -> datetime:
    return _day(t).replace(day=1)


def _next_month(t: datetime) -> datetime:
    return t.replace(year=t.year + 1, month=1) if t.month == 12 else t.replace(month=t.month + 1)


@dataclass(frozen=True)
class Resolution:
    """A bucket width as two functions: the bucket a time falls in, and the next bucket."""

    name: str
    start: Callable[[datetime], datetime]
    following: Callable[[datetime], datetime]


HOURLY = Resolution("hourly", _hour, lambda t: t + timedelta(hours=1))
DAILY = Resolution("daily", _day, lambda t: t + timedelta(days=1))
WEEKLY = Resolution("weekly", _week, lambda t: t + timedelta(days=7))
MONTHLY = Resolution("monthly", _month, _next_month)
_BY_LEVEL = (HOURLY, DAILY, WEEKLY, MONTHLY)

# Families of aggregates, each a chain hourly -> daily -> weekly and daily -> monthly (see
# shared/db/sql/continuous/). The per-cluster and per-node-group hourly aggregates sit on
# cost_hourly, so all of the allocation families refresh after it at each level.
ALLOCATION_FAMILIES = ("cost", "cost_cluster", "cost_node_group")
ASSET_FAMILIES = ("node_cost",)


def refresh_order(families: Iterable[str]) -> list[tuple[str, Resolution]]:
    """(aggregate, resolution) in an order where every aggregate follows the one it reads."""
    names = list(families)
    return [(f"{family}_{r.name}", r) for r in _BY_LEVEL for family in names]


def bucket_ranges(
    times: Iterable[datetime], resolution: Resolution
) -> list[tuple[datetime, datetime]]:
    """The buckets holding `times`, adjacent ones merged, as [start, end) ranges.

    Refreshing exactly the touched buckets (not everything between the oldest and the newest)
    keeps a batch that restates one old window from re-reading the months in between.
    """
    starts = sorted({resolution.start(t) for t in times})
    ranges: list[tuple[datetime, datetime]] = []
    for start in starts:
        end = resolution.following(start)
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


class RollupWriter(Protocol):
    """A batch writer whose managed rollup maintenance can be turned off."""

    rollup_levels: tuple[RollupLevel, ...]


class ContinuousRollups:
    """Refreshes the continuous aggregates over the windows of each committed batch."""

    @classmethod
    async def detect(cls, pool: Pool, *writers: RollupWriter) -> ContinuousRollups | None:
        """The refresher if the database runs the continuous mode (then the writers stop
        maintaining rollup tables, which do not exist there), else None."""
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT mode FROM rollup_mode WHERE to_regclass('rollup_mode') IS NOT NULL"
            )
            row = await cursor.fetchone()
        if row is None or row[0] != "continuous":
            return None
        for writer in writers:
            writer.rollup_levels = ()
        log.info("rollup mode: continuous (aggregates refreshed after each batch)")
        return cls()

    async def refresh(
        self,
        pool: Pool,
        allocation_windows: Iterable[datetime],
        asset_windows: Iterable[datetime] = (),
    ) -> int:
        """Refresh every aggregate over the buckets these window starts fall in; returns the
        number of refresh calls made."""
        work: list[tuple[str, datetime, datetime]] = []
        for times, families in (
            (list(allocation_windows), ALLOCATION_FAMILIES),
            (list(asset_windows), ASSET_FAMILIES),
        ):
            if not times:
                continue
            for view, resolution in refresh_order(families):
                work.extend((view, s, e) for s, e in bucket_ranges(times, resolution))
        if not work:
            return 0
        # Allocation levels first, then asset levels: each list is already parent-first.
        async with pool.connection() as conn:
            await conn.set_autocommit(True)
            try:
                for view, start, end in work:
                    await _refresh(conn, view, start, end)
            finally:
                await conn.set_autocommit(False)
        return len(work)


async def _refresh(conn: Conn, view: str, start: datetime, end: datetime) -> None:
    await conn.execute(
        "CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)",
        (view, start, end),
    )
