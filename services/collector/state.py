"""The collector's durable state in the database: watermarks and recorded gaps.

The watermark only moves after a chunk's events were acknowledged by Kafka (acks=all), so a crash
never skips an hour; at worst an hour is produced twice, which the deterministic event ids make
harmless downstream.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.collector.config import ClusterConfig
from shared.db.pool import Pool


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
        """Record (or extend) a gap; `attempts` adds up until the gap is resolved, then restarts."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason, attempts)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (cluster_id, window_start) DO UPDATE"
                " SET window_end = CASE WHEN collector_gap.resolved_at IS NULL"
                " THEN GREATEST(collector_gap.window_end, EXCLUDED.window_end)"
                " ELSE EXCLUDED.window_end END,"
                " reason = EXCLUDED.reason,"
                " attempts = CASE WHEN collector_gap.resolved_at IS NULL"
                " THEN collector_gap.attempts + EXCLUDED.attempts ELSE EXCLUDED.attempts END,"
                " recorded_at = now(), resolved_at = NULL",
                (cluster_id, start, end, reason, attempts),
            )

    async def resolve_gaps(self, cluster_id: uuid.UUID, start: datetime, end: datetime) -> None:
        """Resolve the gaps [start, end) covers entirely; a gap only partly fetched stays open."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE collector_gap SET resolved_at = now() WHERE cluster_id = %s"
                " AND window_start >= %s AND window_end <= %s AND resolved_at IS NULL",
                (cluster_id, start, end),
            )

    async def open_gaps(self, cluster_id: uuid.UUID) -> list[tuple[datetime, datetime]]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT window_start, window_end FROM collector_gap"
                " WHERE cluster_id = %s AND resolved_at IS NULL ORDER BY window_start",
                (cluster_id,),
            )
            return [(start, end) for start, end in await cursor.fetchall()]
