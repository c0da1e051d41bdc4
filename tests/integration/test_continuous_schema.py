"""Both rollup modes expose the same relations with the same columns, checked without the license.

A continuous aggregate cannot be created on the Apache build, but its defining query can still be
run there: on a managed-mode database every relation a query reads (the raw hypertables, and the
lower rollup level, a table in this mode) has the columns it has in continuous mode. So each
aggregate's query from shared/db/sql/continuous/ runs against a managed database and must return
exactly the columns, in order and with the types, of the managed table of the same name; and
every managed rollup relation must have its aggregate. (Managed mode's `cost_hourly` is a view
over `cost_hourly_archive` and `cost_hourly_raw`, which continuous mode does not need.)
"""

from __future__ import annotations

import re
from importlib import resources

import psycopg
import pytest

pytestmark = pytest.mark.integration

_VIEW = re.compile(
    r"CREATE MATERIALIZED VIEW (\w+)\s+WITH \([^)]*\) AS\s+(SELECT\b.*?)\s+WITH NO DATA;", re.S
)
_TABLE = re.compile(r"CREATE TABLE (\w+) \(.*?\n\);", re.S)


def _sql_files(folder: str = "") -> dict[int, str]:
    base = resources.files("shared.db") / "sql"
    where = base / folder if folder else base
    return {
        int(f.name.split("_", 1)[0]): f.read_text(encoding="utf-8")
        for f in where.iterdir()
        if f.name.endswith(".sql")
    }


def _aggregates() -> dict[str, str]:
    found: dict[str, str] = {}
    for text in _sql_files("continuous").values():
        for name, query in _VIEW.findall(text):
            assert name not in found, f"{name} is defined twice"
            found[name] = query
    return found


def _columns(conn: psycopg.Connection[tuple[object, ...]], query: str) -> list[tuple[str, int]]:
    cursor = conn.execute(f"SELECT * FROM ({query}) q LIMIT 0")  # type: ignore[arg-type]
    assert cursor.description is not None
    return [(c.name, c.type_code) for c in cursor.description]


def test_each_continuous_aggregate_has_the_columns_of_its_managed_table(database_url: str) -> None:
    aggregates = _aggregates()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'row_count' INTERSECT SELECT table_name"
            " FROM information_schema.columns WHERE column_name = 'bucket'"
        ).fetchall()
        rollup_tables = {str(r[0]) for r in rows} - {"cost_hourly_archive", "cost_hourly_raw"}
        assert rollup_tables, "no managed rollup tables found"
        assert set(aggregates) == rollup_tables
        for name, query in sorted(aggregates.items()):
            wanted = _columns(conn, f"TABLE {name}")
            assert _columns(conn, query) == wanted, f"{name} differs from the managed table"


def test_raw_tables_are_defined_alike_in_both_modes() -> None:
    """A continuous-mode file that creates a raw table repeats the managed file's definition."""
    managed = _sql_files()
    compared = []
    for version, text in _sql_files("continuous").items():
        shared = {m.group(1): m.group(0) for m in _TABLE.finditer(text)}
        theirs = {m.group(1): m.group(0) for m in _TABLE.finditer(managed[version])}
        for table, definition in shared.items():
            if table in theirs:
                assert " ".join(definition.split()) == " ".join(theirs[table].split()), table
                compared.append(table)
    assert "asset_cost" in compared, "the shared raw table was not found"
