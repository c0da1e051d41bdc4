"""Raw-row retention: drop whole chunks of the raw hypertables older than the retention.

Raw rows are what restatements are checked against and what the rollups are derived from; once a
window is past any restatement, its rollups hold everything the API reads, so the raw rows can go.
Dropping chunks (not deleting rows) frees the space at once and leaves the rollups alone in both
modes: managed rollups are separate hypertables, and continuous aggregates keep their
materialized rows when raw chunks are dropped (as long as no refresh covers those windows again,
which is why the retention must exceed the restatement horizon and the refresh policies' start
offsets). Run by `costpipe retention`, e.g. from a daily CronJob.

The same run prunes the collector's healed gaps once they are older than both the raw retention
and the gap history data-health shows (`GAP_HISTORY`): one row per failed window occurrence
would otherwise grow without end. Open gaps are never pruned: they are a current problem.

In `managed` mode the hourly level is a view of the raw rows (migration 0007), so each
allocation chunk's hourly GROUP BY is stored in `cost_hourly_archive` in the same transaction
that drops the chunk: the hourly history outlives the raw rows, as it does in continuous mode.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

log = logging.getLogger(__name__)

RAW_TABLES = ("allocation", "asset_cost")
# How far back data-health lists gap occurrences (healed ones included).
GAP_HISTORY = timedelta(days=30)


def drop_raw_chunks(url: str, keep: timedelta) -> dict[str, int]:
    """Drop raw chunks wholly older than now - `keep`; returns chunks dropped per table."""
    dropped: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        archive = _exists(conn, "cost_hourly_archive")
        for table in RAW_TABLES:
            if not _exists(conn, table):
                continue
            if table == "allocation" and archive:
                dropped[table] = _archive_and_drop(conn, keep)
            else:
                rows = conn.execute(
                    "SELECT drop_chunks(%s::regclass, older_than => now() - %s::interval)",
                    (table, keep),
                ).fetchall()
                dropped[table] = len(rows)
            log.info("retention: dropped %d chunk(s) of %s", dropped[table], table)
    return dropped


def prune_healed_gaps(url: str, keep: timedelta) -> int:
    """Delete gaps healed before now - max(`keep`, GAP_HISTORY); returns how many."""
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(
            "DELETE FROM collector_gap WHERE resolved_at IS NOT NULL"
            " AND resolved_at < now() - %s::interval",
            (max(keep, GAP_HISTORY),),
        )
        pruned = cursor.rowcount
    log.info("retention: pruned %d healed collector gap(s)", pruned)
    return pruned


def _exists(conn: psycopg.Connection[TupleRow], relation: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (relation,)).fetchone()
    return bool(row and row[0])


def _archive_statement(conn: psycopg.Connection[TupleRow]) -> sql.Composed:
    """Hourly rows of a time range into the archive. An hour archived twice (raw rows restated
    after an earlier retention run) adds up, as the view's two branches would. The key and the
    measures are read from the table, so a column added by a later migration is carried along."""
    columns = conn.execute(
        "SELECT a.attname, a.attnum = ANY(i.indkey) FROM pg_attribute a"
        " JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary"
        " WHERE a.attrelid = 'cost_hourly_archive'::regclass AND a.attnum > 0"
        " AND NOT a.attisdropped ORDER BY a.attnum"
    ).fetchall()
    key = [str(name) for name, in_key in columns if in_key]
    measures = [str(name) for name, in_key in columns if not in_key]
    return sql.SQL(
        "INSERT INTO cost_hourly_archive SELECT * FROM cost_hourly_raw"
        " WHERE bucket >= %(start)s AND bucket < %(end)s ON CONFLICT ({key}) DO UPDATE SET {sums}"
    ).format(
        key=sql.SQL(", ").join(sql.Identifier(k) for k in key),
        sums=sql.SQL(", ").join(
            sql.SQL("{m} = cost_hourly_archive.{m} + EXCLUDED.{m}").format(m=sql.Identifier(m))
            for m in measures
        ),
    )


def _archive_and_drop(conn: psycopg.Connection[TupleRow], keep: timedelta) -> int:
    """One transaction per chunk: its hourly rows into the archive, then the chunk itself."""
    archive = _archive_statement(conn)
    chunks = conn.execute(
        "SELECT range_start, range_end FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'allocation' AND range_end <= now() - %s::interval"
        " ORDER BY range_start",
        (keep,),
    ).fetchall()
    for start, end in chunks:
        with conn.transaction():
            conn.execute(archive, {"start": start, "end": end})
            conn.execute(
                "SELECT drop_chunks('allocation', older_than => %(end)s::timestamptz,"
                " newer_than => %(start)s::timestamptz)",
                {"start": start, "end": end},
            )
    return len(chunks)
