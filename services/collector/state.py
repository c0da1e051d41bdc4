"""The collector's durable state in the database: watermarks and recorded gaps.

Gaps are a history: each failure of a window that has no open gap opens a row, and a heal closes
it with the time and the fetch that healed it; it is never reopened or overwritten.

The watermark only moves after a chunk's events were acknowledged by Kafka (acks=all), so a crash
never skips an hour; at worst an hour is produced twice, which the deterministic event ids make
harmless downstream.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.collector.config import ClusterConfig
from shared.db.pool import Pool


@dataclass(frozen=True, order=True)
class HealedGap:
    start: datetime
    end: datetime
    reason: str
    attempts: int
    opened_at: datetime
    healed_at: datetime


class CollectorState:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def register(self, cluster: ClusterConfig, organization_name: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO organization (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                (cluster.organization_id, organization_name),
            )
            await conn.execute(
                "INSERT INTO cluster (id, organization_id, name) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
                (cluster.id, cluster.organization_id, cluster.name),
            )

    async def watermark(self, cluster_id: uuid.UUID) -> datetime | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT watermark FROM collector_watermark WHERE cluster_id = %s", (cluster_id,)
            )
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def advance(self, cluster_id: uuid.UUID, watermark: datetime) -> None:
        """Move the watermark forward; never backwards, whatever order calls arrive in."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO collector_watermark (cluster_id, watermark) VALUES (%s, %s) "
                "ON CONFLICT (cluster_id) DO UPDATE SET watermark = GREATEST("
                "collector_watermark.watermark, EXCLUDED.watermark), updated_at = now()",
                (cluster_id, watermark),
            )

    async def record_gap(
        self, cluster_id: uuid.UUID, start: datetime, end: datetime, reason: str, attempts: int
    ) -> None:
        """Record a failure of a window: it extends the window's open gap (adding the attempts),
        or opens a new row when none is open, so a healed occurrence stays as it was healed."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason, attempts)"
                " VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (cluster_id, window_start) WHERE resolved_at IS NULL DO UPDATE"
                " SET window_end = GREATEST(collector_gap.window_end, EXCLUDED.window_end),"
                " reason = EXCLUDED.reason,"
                " attempts = collector_gap.attempts + EXCLUDED.attempts,"
                " recorded_at = now()",
                (cluster_id, start, end, reason, attempts),
            )

    async def resolve_gaps(
        self, cluster_id: uuid.UUID, start: datetime, end: datetime, fetch_id: str
    ) -> list[HealedGap]:
        """Heal the open gaps the fetch of [start, end) covers entirely (a gap only partly fetched
        stays open), recording that fetch; returns them so the heal can be logged."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE collector_gap SET resolved_at = now(), healed_by_start = %s,"
                " healed_by_end = %s, healed_by_fetch = %s WHERE cluster_id = %s"
                " AND window_start >= %s AND window_end <= %s AND resolved_at IS NULL"
                " RETURNING window_start, window_end, reason, attempts, opened_at, resolved_at",
                (start, end, fetch_id, cluster_id, start, end),
            )
            rows = await cursor.fetchall()
        return sorted(HealedGap(*row) for row in rows)

    async def open_gaps(self, cluster_id: uuid.UUID) -> list[tuple[datetime, datetime]]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT window_start, window_end FROM collector_gap"
                " WHERE cluster_id = %s AND resolved_at IS NULL ORDER BY window_start",
                (cluster_id,),
            )
            return [(start, end) for start, end in await cursor.fetchall()]
