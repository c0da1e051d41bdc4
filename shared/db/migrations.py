"""Ordered SQL migrations, applied once each, under an advisory lock so that several processes
(the Helm migration Job, `costpipe dev`, tests) can race safely.

The rollup relations are created by the migration that matches the database's rollup mode. Files in
`sql/` serve both modes; a file in `sql/continuous/` with the same version number replaces the
top-level one in `continuous` mode (continuous aggregates instead of rollup tables), so the
version history is one sequence whichever mode a database runs. The mode is chosen once, when the
rollups are first created, and recorded in `rollup_mode`; later runs keep it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

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


MODES = ("managed", "continuous")


def _read_folder(folder: Traversable) -> dict[int, Migration]:
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            if version in found:
                raise MigrationError(f"two migrations share version {version} in {folder.name}")
            found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return found


def available_migrations(mode: str = "managed") -> list[Migration]:
    """The migrations a database in `mode` runs, in order."""
    if mode not in MODES:
        raise MigrationError(f"unknown rollup mode {mode!r}; expected one of {MODES}")
    folder = resources.files("shared.db") / "sql"
    found = _read_folder(folder)
    if mode == "continuous":
        found.update(_read_folder(folder / "continuous"))
    return [found[v] for v in sorted(found)]


def detect_license(conn: psycopg.Connection[TupleRow]) -> str | None:
    """The TimescaleDB license of the server ('apache' or 'timescale'), None if not installed."""
    row = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return None
    # The setting exists only once the extension's shared object is loaded in this database, which
    # in a fresh database means creating the extension (migration 0001 creates it anyway).
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return str(license_row[0]) if license_row and license_row[0] else "apache"


def resolve_rollup_mode(requested: str, license_name: str, recorded: str | None = None) -> str:
    """The mode to migrate in: the recorded one if the rollups exist, else what was asked for.

    `auto` picks `continuous` on the Timescale license and `managed` elsewhere; `managed` runs on
    both builds. A database keeps the mode its rollups were created in: switching means
    rebuilding them, which a migration does not do behind the operator's back.
    """
    if requested not in ("auto", *MODES):
        raise MigrationError(f"unknown rollup mode {requested!r}; use auto, managed or continuous")
    wanted = recorded or requested
    if wanted == "auto":
        wanted = "continuous" if license_name == "timescale" else "managed"
    if wanted == "continuous" and license_name != "timescale":
        raise MigrationError(
            "rollup mode 'continuous' needs TimescaleDB with the Timescale license; "
            f"this server has the {license_name!r} license (use 'managed' or 'auto')"
        )
    if recorded is not None and requested not in ("auto", recorded):
        raise MigrationError(
            f"this database's rollups were created in {recorded!r} mode and cannot be switched "
            f"to {requested!r} in place; use 'auto' (or {recorded!r}), or migrate a new database"
        )
    return wanted


def recorded_rollup_mode(conn: psycopg.Connection[TupleRow]) -> str | None:
    """The mode recorded when the rollups were created, None before that."""
    exists = conn.execute("SELECT to_regclass('rollup_mode') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT mode FROM rollup_mode").fetchone()
    return str(row[0]) if row else None


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
        resolve_rollup_mode(requested_mode, license_name)  # refuse early, before the lock
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            mode = resolve_rollup_mode(requested_mode, license_name, recorded_rollup_mode(conn))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migration")}
            for migration in available_migrations(mode):
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migration (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied migration %s (%s mode)", migration.name, mode)
                applied.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied
