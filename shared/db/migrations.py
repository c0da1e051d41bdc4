"""Ordered SQL migrations, applied once each, under an advisory lock so that several processes
(the Helm migration Job, `costpipe dev`, tests) can race safely.

The rollup relations are created by the migration that matches the database's rollup mode; the
`managed` mode is what the Apache build of TimescaleDB supports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg.rows import TupleRow

log = logging.getLogger(__name__)

_LOCK_ID = 0x636F737470697065  # "costpipe"


class MigrationError(RuntimeError):
    """The database cannot be migrated (missing extension, unsupported mode)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("shared.db") / "sql"
    found: list[Migration] = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append(Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def detect_license(conn: psycopg.Connection[TupleRow]) -> str | None:
    """The TimescaleDB license of the server ('apache' or 'timescale'), None if not installed."""
    row = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return None
    license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return str(license_row[0]) if license_row and license_row[0] else "apache"


def resolve_rollup_mode(requested: str, license_name: str) -> str:
    """`auto` picks the mode this server can run.

    Continuous aggregates need the Timescale license; `managed` runs on both. Until the continuous
    mode's migrations exist, `auto` picks `managed` everywhere and `continuous` is refused.
    """
    if requested in ("auto", "managed"):
        return "managed"
    if license_name != "timescale":
        raise MigrationError(
            "rollup mode 'continuous' needs TimescaleDB with the Timescale license; "
            f"this server has the {license_name!r} license (use 'managed' or 'auto')"
        )
    raise MigrationError("rollup mode 'continuous' is not available yet; use 'managed' or 'auto'")


def migrate(url: str, requested_mode: str = "auto") -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        license_name = detect_license(conn)
        if license_name is None:
            raise MigrationError(
                "the timescaledb extension is not available on this server; install it "
                "(deploy/local/install-timescaledb.sh) and add it to shared_preload_libraries"
            )
        resolve_rollup_mode(requested_mode, license_name)
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migration")}
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migration (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied migration %s", migration.name)
                applied.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied
