"""The collector's bookkeeping in the real database: the watermark never moves backwards, a gap is
resolved only by a fetch that covered all of it, and a healed gap stays in the history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from services.collector.config import parse_config
from shared.db.migrations import available_migrations, migrate
from tests.support.collector_harness import Harness, collector_harness
from tests.support.services import Services

pytestmark = pytest.mark.integration

H = timedelta(hours=1)
T = datetime(2026, 3, 2, tzinfo=UTC)
HISTORY_VERSION = 11
CLUSTER = parse_config({"clusters": [{"name": "state", "base_url": "http://k"}]}).clusters[0]


async def test_watermark_only_moves_forward(pipeline_env: dict[str, str]) -> None:
    async with collector_harness(pipeline_env) as harness:
        state = harness.state
        await state.register(CLUSTER, "org")
        assert await state.watermark(CLUSTER.id) is None
        await state.advance(CLUSTER.id, T + 5 * H)
        await state.advance(CLUSTER.id, T + 2 * H)  # a late, older chunk
        assert await state.watermark(CLUSTER.id) == T + 5 * H
        assert await state.watermark(uuid.uuid4()) is None


async def test_gaps_resolve_only_when_covered_whole(pipeline_env: dict[str, str]) -> None:
    async with collector_harness(pipeline_env) as harness:
        state = harness.state
        await state.register(CLUSTER, "org")
        await state.record_gap(CLUSTER.id, T, T + 6 * H, "timeout", 3)
        await state.record_gap(CLUSTER.id, T, T + 6 * H, "HTTP 503", 2)  # failed again
        assert await state.resolve_gaps(CLUSTER.id, T, T + 4 * H, "part") == []  # part of it only
        assert await state.open_gaps(CLUSTER.id) == [(T, T + 6 * H)]
        (row,) = await harness.gaps()
        assert (row[3], row[4]) == ("HTTP 503", 5)

        (healed,) = await state.resolve_gaps(CLUSTER.id, T - H, T + 6 * H, "fetch-1")
        assert (healed.start, healed.end, healed.reason, healed.attempts) == (
            T,
            T + 6 * H,
            "HTTP 503",
            5,
        )
        assert healed.opened_at <= healed.healed_at
        assert await state.open_gaps(CLUSTER.id) == []


async def test_a_healed_gap_keeps_its_row_and_a_new_failure_opens_another(
    pipeline_env: dict[str, str],
) -> None:
    async with collector_harness(pipeline_env) as harness:
        state = harness.state
        await state.register(CLUSTER, "org")
        await state.record_gap(CLUSTER.id, T, T + 6 * H, "HTTP 503", 5)
        await state.resolve_gaps(CLUSTER.id, T - H, T + 6 * H, "fetch-1")
        first_heal = await history(harness)

        await state.record_gap(CLUSTER.id, T, T + 3 * H, "timeout", 4)  # fails again later
        await state.record_gap(CLUSTER.id, T, T + 3 * H, "timeout", 1)  # and once more
        assert await state.open_gaps(CLUSTER.id) == [(T, T + 3 * H)]
        healed_row, open_row = await history(harness)
        assert healed_row == first_heal[0]  # the heal is not overwritten
        assert healed_row[:4] == (T, T + 6 * H, "HTTP 503", 5)
        assert healed_row[5:] == (T - H, T + 6 * H, "fetch-1")
        assert healed_row[4] is not None
        assert open_row == (T, T + 3 * H, "timeout", 5, None, None, None, None)  # counted afresh

        assert len(await state.resolve_gaps(CLUSTER.id, T, T + 6 * H, "fetch-2")) == 1
        assert await state.resolve_gaps(CLUSTER.id, T, T + 6 * H, "fetch-3") == []
        rows = await history(harness)
        assert [r[7] for r in rows] == ["fetch-1", "fetch-2"]  # a later fetch heals nothing new
        assert [(r[5], r[6]) for r in rows] == [(T - H, T + 6 * H), (T, T + 6 * H)]


async def history(harness: Harness) -> list[tuple[Any, ...]]:
    """Every occurrence, oldest first: window, reason, attempts, heal time and healing fetch."""
    return await harness.fetch(
        "SELECT window_start, window_end, reason, attempts, resolved_at, healed_by_start,"
        " healed_by_end, healed_by_fetch FROM collector_gap WHERE cluster_id = %s ORDER BY id",
        (CLUSTER.id,),
    )


def test_the_history_migration_keeps_existing_gaps(services: Services) -> None:
    """A database migrated before gaps had a history keeps its rows: open ones stay open (and
    extendable), healed ones keep their heal time, with no healing fetch known."""
    name = "costpipe_gaps_" + uuid.uuid4().hex[:12]
    with psycopg.connect(services.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(services.database_url)._replace(path="/" + name))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE schema_migration (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for migration in available_migrations("managed"):
                if migration.version < HISTORY_VERSION:
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migration (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
            conn.execute(
                "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason, attempts,"
                " recorded_at, resolved_at) VALUES (%s, %s, %s, 'HTTP 500', 2, %s, NULL),"
                " (%s, %s, %s, 'timeout', 3, %s, %s)",
                (CLUSTER.id, T, T + 6 * H, T + H, CLUSTER.id, T - 6 * H, T, T - 5 * H, T),
            )
        applied = migrate(url, "managed")
        assert applied[0] == "0011_gap_history.sql"
        assert all(int(name.split("_", 1)[0]) > HISTORY_VERSION for name in applied[1:])
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT window_start, reason, attempts, opened_at, resolved_at, healed_by_start,"
                " healed_by_fetch FROM collector_gap ORDER BY window_start"
            ).fetchall()
            assert rows == [
                (T - 6 * H, "timeout", 3, T - 5 * H, T, None, None),
                (T, "HTTP 500", 2, T + H, None, None, None),
            ]
            with pytest.raises(psycopg.errors.UniqueViolation):  # still one open row per window
                conn.execute(
                    "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason)"
                    " VALUES (%s, %s, %s, 'again')",
                    (CLUSTER.id, T, T + 6 * H),
                )
            conn.execute(  # a healed window may fail again
                "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason)"
                " VALUES (%s, %s, %s, 'again')",
                (CLUSTER.id, T - 6 * H, T),
            )
    finally:
        with psycopg.connect(services.database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
