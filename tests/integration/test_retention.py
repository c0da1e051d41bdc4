"""Raw retention keeps every rollup's history, including the hourly level derived from raw rows.

In `managed` mode `cost_hourly` is a view of the raw rows plus an archive (migration 0007); the
retention task archives a chunk's hourly rows in the transaction that drops it. Dropping raw
chunks must therefore change no rollup at any level, and leave newer raw rows alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
import pytest

from services.aggregator.writer import BatchWriter
from shared.db.retention import drop_raw_chunks
from shared.events import AllocationEvent
from tests.support.aggregator_helpers import ROLLUP_TABLES, fetch_rollup, synthetic_stream

pytestmark = pytest.mark.integration

Snapshot = dict[str, dict[tuple[object, ...], tuple[int, ...]]]


async def _write(url: str, events: Sequence[AllocationEvent]) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await BatchWriter().write(conn, events)
        await conn.commit()


def _rollups(url: str) -> Snapshot:
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return {t: fetch_rollup(conn, t, dims) for t, (_, dims) in ROLLUP_TABLES.items()}


def _raw_windows(url: str) -> list[datetime]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT DISTINCT window_start FROM allocation ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_dropping_raw_chunks_changes_no_rollup(database_url: str) -> None:
    old, _ = synthetic_stream(300, seed=7)  # windows in February and March 2024
    recent_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    recent = [
        msgspec.structs.replace(
            e, window_start=recent_hour, window_end=recent_hour + timedelta(hours=1)
        )
        for e in old[:20]
    ]
    asyncio.run(_write(database_url, old + recent))
    before = _rollups(database_url)
    assert before["cost_hourly"], "nothing was written"

    dropped = drop_raw_chunks(database_url, timedelta(days=30))

    assert dropped["allocation"] >= 3  # 7-day chunks over February and March 2024
    assert _raw_windows(database_url) == [recent_hour]
    after = _rollups(database_url)
    for table in ROLLUP_TABLES:
        assert after[table] == before[table], f"{table} changed when raw chunks were dropped"
    # Running it again finds nothing more to drop and still changes nothing.
    assert drop_raw_chunks(database_url, timedelta(days=30))["allocation"] == 0
    assert _rollups(database_url) == before
