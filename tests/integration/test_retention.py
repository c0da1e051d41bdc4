"""Raw retention keeps every rollup's history, including the hourly level derived from raw rows.

In `managed` mode `cost_hourly` is a view of the raw rows plus an archive (migration 0007); the
retention task archives a chunk's hourly rows in the transaction that drops it. Dropping raw
chunks must therefore change no rollup at any level, and leave newer raw rows alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
import pytest

from services.aggregator.writer import BatchWriter
from shared.db.retention import drop_raw_chunks, prune_healed_gaps
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


def test_healed_gaps_go_once_older_than_the_retention_and_the_gap_history(
    database_url: str,
) -> None:
    cluster = uuid.uuid4()
    now = datetime.now(UTC)
    rows = [  # (window start, healed how long ago; None = still open)
        (now - timedelta(days=100), timedelta(days=95)),  # healed long ago: pruned
        (now - timedelta(days=50), timedelta(days=40)),  # older than 30 days, inside 45: kept
        (now - timedelta(days=10), timedelta(days=5)),  # in the gap history: kept
        (now - timedelta(days=200), None),  # open, however old: kept
    ]
    with psycopg.connect(database_url, autocommit=True) as conn:
        for start, healed in rows:
            conn.execute(
                "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason,"
                " opened_at, recorded_at, resolved_at) VALUES (%s, %s, %s, 'timeout', %s, %s, %s)",
                (
                    cluster,
                    start,
                    start + timedelta(hours=1),
                    start,
                    start,
                    None if healed is None else now - healed,
                ),
            )

    assert prune_healed_gaps(database_url, timedelta(days=45)) == 1
    with psycopg.connect(database_url) as conn:
        left = conn.execute(
            "SELECT window_start FROM collector_gap ORDER BY window_start"
        ).fetchall()
    assert [r[0] for r in left] == sorted(start for start, _ in rows[1:])
    # A retention shorter than the gap history keeps the history: nothing healed within 30 days
    # goes, the 40-day-old heal does.
    assert prune_healed_gaps(database_url, timedelta(days=7)) == 1
    assert prune_healed_gaps(database_url, timedelta(days=7)) == 0
