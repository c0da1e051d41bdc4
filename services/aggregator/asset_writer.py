"""Asset cost events into the raw `asset_cost` hypertable and the managed `node_cost_*` rollups.

The same technique as the allocation writer, for the same reasons: rows are staged by binary
COPY, versions older than what is stored are dropped (a replay never undoes a restatement), the
delta (new rows +1, the rows they replace -1) is added to every rollup level in key order (no
deadlocks between aggregators), and rollup rows left with no raw row behind them are deleted.
Every statement that joins or prunes is bounded to the batch's window range, so it touches only
the chunks the batch can change. The caller owns the transaction, so a batch holding allocations
and assets is committed as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psycopg import sql

from services.aggregator.rollups import RollupLevel
from services.aggregator.writer import newest_per_key
from shared.asset_events import AssetCostEvent
from shared.db.data_version import raise_versions
from shared.db.pool import Conn

DIMENSIONS = ("cluster_id", "asset_type", "node_group")
MEASURES = ("cpu_cost", "ram_cost", "gpu_cost", "adjustment", "total_cost")
LEVELS = tuple(
    RollupLevel(f"node_cost_{name}", width, DIMENSIONS)
    for name, width in (
        ("hourly", "1 hour"),
        ("daily", "1 day"),
        ("weekly", "1 week"),
        ("monthly", "1 month"),
    )
)

# (column, binary COPY type), in the order `_row` produces values.
RAW_LAYOUT: tuple[tuple[str, str], ...] = (
    ("cluster_id", "uuid"),
    ("asset_key", "text"),
    ("window_start", "timestamptz"),
    ("window_end", "timestamptz"),
    ("event_id", "uuid"),
    ("asset_type", "text"),
    ("name", "text"),
    ("provider_id", "text"),
    ("node_group", "text"),
    *((m, "int8") for m in MEASURES),
    ("discount", "float8"),
    ("cpu_cores", "float8"),
    ("ram_bytes", "float8"),
    ("gpu_count", "float8"),
    ("bytes", "float8"),
    ("minutes", "float8"),
    ("produced_at", "timestamptz"),
)
_KEY = ("cluster_id", "asset_key", "window_start")
_TYPES = [kind for _, kind in RAW_LAYOUT]
_columns = sql.SQL(", ").join(sql.Identifier(name) for name, _ in RAW_LAYOUT)
_key = sql.SQL(", ").join(sql.Identifier(k) for k in _KEY)
_dims = sql.SQL(", ").join(sql.Identifier(d) for d in DIMENSIONS)
_measures = sql.SQL(", ").join(sql.Identifier(m) for m in MEASURES)
_sums = sql.SQL(", ").join(
    sql.SQL("sum({})::bigint").format(sql.Identifier(c)) for c in ("row_count", *MEASURES)
)

CREATE_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS asset_stage (LIKE asset_cost INCLUDING DEFAULTS)"
    " ON COMMIT DELETE ROWS"
)
CREATE_DELTA = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS asset_delta (window_start timestamptz NOT NULL,"
    " cluster_id uuid NOT NULL, asset_type text NOT NULL, node_group text NOT NULL,"
    " row_count bigint NOT NULL, {}) ON COMMIT DELETE ROWS"
).format(
    sql.SQL(", ").join(sql.SQL("{} bigint NOT NULL").format(sql.Identifier(m)) for m in MEASURES)
)
COPY_STAGE = sql.SQL("COPY asset_stage ({}) FROM STDIN (FORMAT BINARY)").format(_columns)
_JOIN = sql.SQL(
    "a.cluster_id = s.cluster_id AND a.asset_key = s.asset_key AND a.window_start = s.window_start"
    " AND a.window_start BETWEEN %(first)s AND %(last)s"
)
DROP_STALE = sql.SQL(
    "DELETE FROM asset_stage s USING asset_cost a WHERE {} AND a.produced_at >= s.produced_at"
).format(_JOIN)
FILL_DELTA = sql.SQL(
    "INSERT INTO asset_delta (window_start, {dims}, row_count, {measures})"
    " SELECT window_start, {dims}, 1, {measures} FROM asset_stage"
    " UNION ALL"
    " SELECT a.window_start, {a_dims}, -1, {neg_measures}"
    " FROM asset_cost a JOIN asset_stage s ON {join}"
).format(
    dims=_dims,
    measures=_measures,
    a_dims=sql.SQL(", ").join(sql.Identifier("a", d) for d in DIMENSIONS),
    neg_measures=sql.SQL(", ").join(
        sql.SQL("-{}").format(sql.Identifier("a", m)) for m in MEASURES
    ),
    join=_JOIN,
)
UPSERT_RAW = sql.SQL(
    "INSERT INTO asset_cost ({columns}) SELECT {columns} FROM asset_stage ORDER BY {key}"
    " ON CONFLICT ({key}) DO UPDATE SET {updates}"
).format(
    columns=_columns,
    key=_key,
    updates=sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(name))
        for name, _ in RAW_LAYOUT
        if name not in _KEY
    ),
)


def apply_delta(level: RollupLevel) -> sql.Composed:
    table = sql.Identifier(level.table)
    key = sql.SQL(", ").join(sql.Identifier(c) for c in ("cluster_id", "bucket", *DIMENSIONS[1:]))
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = {t}.{c} + EXCLUDED.{c}").format(c=sql.Identifier(c), t=table)
        for c in ("row_count", *MEASURES)
    )
    return sql.SQL(
        "INSERT INTO {table} (bucket, {dims}, row_count, {measures})"
        " SELECT time_bucket({width}::interval, window_start) AS bucket, {dims}, {sums}"
        " FROM asset_delta GROUP BY bucket, {dims} ORDER BY {key}"
        " ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(
        table=table,
        dims=_dims,
        measures=_measures,
        width=sql.Literal(level.interval),
        sums=_sums,
        key=key,
        updates=updates,
    )


def prune_empty(level: RollupLevel) -> sql.Composed:
    """Rollup rows whose raw rows all moved to another group (a node changed its node group)."""
    return sql.SQL(
        "DELETE FROM {table} t USING ("
        " SELECT DISTINCT cluster_id, time_bucket({width}::interval, window_start) AS bucket"
        " FROM asset_delta WHERE row_count < 0) d"
        " WHERE t.cluster_id = d.cluster_id AND t.bucket = d.bucket AND t.row_count = 0"
        " AND t.bucket BETWEEN time_bucket({width}::interval, %(first)s::timestamptz)"
        " AND %(last)s"
    ).format(table=sql.Identifier(level.table), width=sql.Literal(level.interval))


def _row(e: AssetCostEvent) -> tuple[object, ...]:
    return (
        e.cluster_id,
        e.asset_key,
        e.window_start,
        e.window_end,
        e.event_id,
        e.asset_type.value,
        e.name,
        e.provider_id,
        e.node_group,
        e.cpu_cost,
        e.ram_cost,
        e.gpu_cost,
        e.adjustment,
        e.total_cost,
        e.discount,
        e.cpu_cores,
        e.ram_bytes,
        e.gpu_count,
        e.bytes,
        e.minutes,
        e.produced_at,
    )


def latest_per_asset(events: Iterable[AssetCostEvent]) -> list[AssetCostEvent]:
    return newest_per_key(events, lambda e: (e.cluster_id, e.asset_key, e.window_start))


@dataclass(frozen=True)
class AssetWriteResult:
    rows_staged: int
    rows_written: int


class AssetBatchWriter:
    """Writes asset cost events into `asset_cost` and the node-cost rollups."""

    # Emptied in the `continuous` mode, where the rollups are derived by TimescaleDB itself
    # (services/aggregator/continuous.py).
    rollup_levels: tuple[RollupLevel, ...] = LEVELS

    async def write(self, conn: Conn, events: Sequence[AssetCostEvent]) -> AssetWriteResult:
        rows = latest_per_asset(events)
        if not rows:
            return AssetWriteResult(0, 0)
        window = {
            "first": min(e.window_start for e in rows),
            "last": max(e.window_start for e in rows),
        }
        async with conn.transaction():
            await self._dimensions(conn, rows)
            await conn.execute(CREATE_STAGE)
            await conn.execute(CREATE_DELTA)
            async with conn.cursor().copy(COPY_STAGE) as copy:
                copy.set_types(_TYPES)
                for event in rows:
                    await copy.write_row(_row(event))
            # Temporary tables get no statistics from autovacuum; see the allocation writer.
            await conn.execute("ANALYZE asset_stage (cluster_id, asset_key, window_start)")
            # Planned with the batch's window range each time, never as a generic plan.
            await conn.execute(DROP_STALE, window, prepare=False)
            if self.rollup_levels:
                await conn.execute(FILL_DELTA, window, prepare=False)
                await conn.execute("ANALYZE asset_delta (row_count)")
            cursor = await conn.execute(UPSERT_RAW)
            written = cursor.rowcount
            for level in self.rollup_levels:
                await conn.execute(apply_delta(level))
                await conn.execute(prune_empty(level), window, prepare=False)
            await raise_versions(conn, (e.cluster_id for e in rows))
        return AssetWriteResult(len(rows), written)

    async def _dimensions(self, conn: Conn, rows: Sequence[AssetCostEvent]) -> None:
        """A cluster seen only through its assets still gets its organization and cluster rows."""
        organizations = sorted({(e.organization_id,) for e in rows})
        clusters = sorted({(e.cluster_id, e.organization_id, e.cluster_name) for e in rows})
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO organization (id, name) VALUES (%s, 'default')"
                " ON CONFLICT (id) DO NOTHING",
                organizations,
            )
            await cur.executemany(
                "INSERT INTO cluster (id, organization_id, name) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                clusters,
            )
