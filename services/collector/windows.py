"""Which windows one collection cycle fetches: new hours, the restatement window, old gaps.

Chunks sit on a fixed grid, multiples of `chunk_hours` since the Unix epoch (UTC days for 24), so
the same hours fall in the same chunk whatever hour a cycle runs at. A recorded gap (one failed
chunk) is therefore covered by the chunk that re-fetches those hours later, which resolves it.
Gaps no planned chunk covers any more (older than the restatement window) are fetched again on
their own, as long as they are within the backfill horizon.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.collector.config import CollectorConfig
from shared.timewindows import floor_hour

Window = tuple[datetime, datetime]


def grid_chunks(start: datetime, end: datetime, hours: int) -> list[Window]:
    """[start, end) cut at every multiple of `hours` since the epoch."""
    size = hours * 3600
    out: list[Window] = []
    cursor = start
    while cursor < end:
        boundary = datetime.fromtimestamp((int(cursor.timestamp()) // size + 1) * size, UTC)
        step_end = min(boundary, end)
        out.append((cursor, step_end))
        cursor = step_end
    return out


@dataclass(frozen=True)
class CyclePlan:
    """What one cycle of one cluster fetches, in this order.

    `follow` moves the watermark and stops at its first failure (the source is likely down);
    `restate` re-polls hours already collected that Kubecost may still change; `retry` fetches
    recorded gaps nothing else would fetch again.
    """

    target: datetime
    follow: list[Window]
    restate: list[Window]
    retry: list[Window]

    @property
    def windows(self) -> int:
        return len(self.follow) + len(self.restate) + len(self.retry)

    @property
    def catching_up(self) -> bool:
        """A backfill or a catch-up after downtime: worth showing progress for."""
        return len(self.follow) > 1


def _covered(gap: Window, chunks: Iterable[Window]) -> bool:
    return any(start <= gap[0] and gap[1] <= end for start, end in chunks)


def plan_cycle(
    now: datetime,
    watermark: datetime | None,
    open_gaps: Iterable[Window],
    config: CollectorConfig,
) -> CyclePlan:
    """The plan for a cycle at `now`, given the stored watermark and the unresolved gaps.

    Only whole hours before `now` are fetched. Without a watermark (first start) the cluster is
    backfilled `backfill_days`; with one, collection resumes exactly there (however long ago),
    and the trailing `restatement_hours` already collected are fetched again, never reaching
    further back than the backfill horizon.
    """
    target = floor_hour(now)
    horizon = target - timedelta(days=config.backfill_days)
    chunk = config.chunk_hours
    if watermark is None:
        follow, restate = grid_chunks(horizon, target, chunk), []
    else:
        follow = grid_chunks(watermark, target, chunk)
        restate_from = max(target - timedelta(hours=config.restatement_hours), horizon)
        restate = grid_chunks(restate_from, min(watermark, target), chunk)
    planned = follow + restate
    retry = sorted(gap for gap in open_gaps if gap[0] >= horizon and not _covered(gap, planned))
    return CyclePlan(target=target, follow=follow, restate=restate, retry=retry)
