"""Raw-row retention: drop whole chunks of the raw hypertables older than the retention.

Raw rows are what restatements are checked against and what the rollups are derived from; once a
window is past any restatement, its rollups hold everything the API reads, so the raw rows can go.
Dropping chunks (not deleting rows) frees the space at once and leaves the rollups alone in both
modes: managed rollups are separate hypertables, and continuous aggregates keep their
materialized rows when raw chunks are dropped (as long as no refresh covers those windows again,
which is why the retention must exceed the restatement horizon and the refresh policies' start
offsets). Run by `costpipe retention`, e.g. from a daily CronJob.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg

log = logging.getLogger(__name__)

RAW_TABLES = ("allocation", "asset_cost")


def drop_raw_chunks(url: str, keep: timedelta) -> dict[str, int]:
    """Drop raw chunks wholly older than now - `keep`; returns chunks dropped per table."""
    dropped: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in RAW_TABLES:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            if not exists or not exists[0]:
                continue
            rows = conn.execute(
                "SELECT drop_chunks(%s::regclass, older_than => now() - %s::interval)",
                (table, keep),
            ).fetchall()
            dropped[table] = len(rows)
            log.info("retention: dropped %d chunk(s) of %s", len(rows), table)
    return dropped
