"""The rollup levels and the SQL that keeps `managed` rollups equal to the GROUP BY of raw rows.

Each batch adds its delta (new rows +1, the rows they replace -1) to every level in the same
transaction as the raw write. The delta is first grouped into two grains in one pass (grouping
sets): a daily grain by every dimension and an hourly grain by cluster and node group; each level
is summed from the smaller of the two that serves it, so a batch's rows are read once, not once
per level.
Rows are ordered by key before each upsert so concurrent aggregators lock rollup rows in the same
order (no deadlocks).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

DIMENSIONS = (
    "cluster_id",
    "namespace",
    "workload_uid",
    "node_group",
    "service",
    "team",
    "owner",
    "kind",
)
MONEY_MEASURES = (
    "cost",
    "idle_share",
    "cpu_cost",
    "gpu_cost",
    "ram_cost",
    "pv_cost",
    "network_cost",
    "load_balancer_cost",
    "shared_cost",
    "external_cost",
)
# Resource quantities behind efficiency and rightsizing, as integers so that adding and removing
# deltas is as exact as it is for money: micro core-hours for CPU and GPU, KiB-hours for RAM.
# Each is a raw row's average times its minutes, rounded half to even; a factor below 1e-100
# counts as zero, since PostgreSQL refuses a float product that underflows. Validation bounds
# the averages from above so that no product overflows a bigint. Migration 0004 (and the
# continuous aggregates) use the same expressions.
_MICRO_HOURS = (
    "round(CASE WHEN {t}{c} >= 1e-100 AND {t}minutes >= 1e-100"
    " THEN {t}{c} * {t}minutes * 1e6::float8 / 60 ELSE 0 END)::bigint"
)
_KIB_HOURS = (
    "round(CASE WHEN {t}{c} >= 1e-100 AND {t}minutes >= 1e-100"
    " THEN {t}{c} * {t}minutes / 61440::float8 ELSE 0 END)::bigint"
)
USAGE_MEASURES: dict[str, str] = {
    name: template.replace("{c}", column)
    for name, template, column in (
        ("cpu_request_micro_core_hours", _MICRO_HOURS, "cpu_core_request_average"),
        ("cpu_usage_micro_core_hours", _MICRO_HOURS, "cpu_core_usage_average"),
        ("ram_request_kib_hours", _KIB_HOURS, "ram_byte_request_average"),
        ("ram_usage_kib_hours", _KIB_HOURS, "ram_byte_usage_average"),
        ("gpu_request_micro_hours", _MICRO_HOURS, "gpu_request_average"),
        ("gpu_usage_micro_hours", _MICRO_HOURS, "gpu_usage_average"),
    )
}
MEASURES = MONEY_MEASURES + tuple(USAGE_MEASURES)


@dataclass(frozen=True)
class RollupLevel:
    """One rollup table: its bucket width and the dimensions it groups by."""

    table: str
    interval: str
    dimensions: tuple[str, ...] = DIMENSIONS


_RESOLUTIONS = (
    ("hourly", "1 hour"),
    ("daily", "1 day"),
    ("weekly", "1 week"),
    ("monthly", "1 month"),
)
DETAILED_LEVELS = tuple(RollupLevel(f"cost_{name}", width) for name, width in _RESOLUTIONS)
# Per-cluster totals: what cluster- and organization-wide answers read (one row per bucket).
CLUSTER_LEVELS = tuple(
    RollupLevel(f"cost_cluster_{name}", width, ("cluster_id",)) for name, width in _RESOLUTIONS
)
# Per node-group totals: what node-group answers read.
NODE_GROUP_LEVELS = tuple(
    RollupLevel(f"cost_node_group_{name}", width, ("cluster_id", "node_group"))
    for name, width in _RESOLUTIONS
)
# What the aggregator maintains in `managed` mode: every level but the detailed hourly one, which
# is a view of the raw rows there (migration 0007, docs/decisions/0007-hourly-from-raw.md).
LEVELS = DETAILED_LEVELS[1:] + CLUSTER_LEVELS + NODE_GROUP_LEVELS

_dims = sql.SQL(", ").join(sql.Identifier(d) for d in DIMENSIONS)
_measures = sql.SQL(", ").join(sql.Identifier(m) for m in MEASURES)


@dataclass(frozen=True)
class DeltaGrain:
    """A batch's delta grouped once at a bucket width and by some dimensions (a temporary table),
    for the levels that need nothing finer."""

    table: str
    interval: str
    dimensions: tuple[str, ...]


DAILY_GRAIN = DeltaGrain("alloc_delta_daily", "1 day", DIMENSIONS)
GROUP_GRAIN = DeltaGrain("alloc_delta_groups", "1 hour", ("cluster_id", "node_group"))
GRAINS = (DAILY_GRAIN, GROUP_GRAIN)


def grain_of(level: RollupLevel) -> DeltaGrain:
    """The detailed levels (daily and coarser) sum the daily grain; the per-cluster and
    per-node-group totals, hourly ones included, sum the small hourly grain."""
    return DAILY_GRAIN if level.dimensions == DIMENSIONS else GROUP_GRAIN


def _column_types(dimensions: tuple[str, ...]) -> sql.Composable:
    types = {"cluster_id": "uuid", "workload_uid": "uuid"}
    return sql.SQL(", ").join(
        sql.SQL("{} {} NOT NULL").format(sql.Identifier(d), sql.SQL(types.get(d, "text")))
        for d in dimensions
    )


def _create(table: str, dimensions: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {table} (window_start timestamptz NOT NULL, {dims},"
        " row_count bigint NOT NULL, {measures}) ON COMMIT DELETE ROWS"
    ).format(
        table=sql.Identifier(table),
        dims=_column_types(dimensions),
        measures=sql.SQL(", ").join(
            sql.SQL("{} bigint NOT NULL").format(sql.Identifier(m)) for m in MEASURES
        ),
    )


# The raw-level delta, used when a batch replaces stored rows (see writer.BatchWriter).
CREATE_DELTA = _create("alloc_delta", DIMENSIONS)
CREATE_GRAINS = tuple(_create(g.table, g.dimensions) for g in GRAINS)


# The window range (parameters `first` and `last`) is what keeps the join with the raw hypertable
# to the chunks the batch can touch: without it every batch reads every chunk.
def _raw_measures(qualifier: str, sign: str) -> sql.Composable:
    """The measures of raw rows (of the stage or of `allocation a`) as the delta's columns."""
    prefix = f"{qualifier}." if qualifier else ""
    money = [sql.SQL(sign + prefix) + sql.Identifier(m) for m in MONEY_MEASURES]
    usage = [sql.SQL(sign + "(" + e.format(t=prefix) + ")") for e in USAGE_MEASURES.values()]
    return sql.SQL(", ").join(money + usage)


FILL_DELTA = sql.SQL(
    "INSERT INTO alloc_delta (window_start, {dims}, row_count, {measures})"
    " SELECT window_start, {dims}, 1, {stage_measures} FROM alloc_stage"
    " UNION ALL"
    " SELECT a.window_start, {a_dims}, -1, {neg_measures}"
    " FROM allocation a JOIN alloc_stage s"
    " ON a.cluster_id = s.cluster_id AND a.allocation_key = s.allocation_key"
    " AND a.window_start = s.window_start"
    " WHERE a.window_start BETWEEN %(first)s AND %(last)s"
).format(
    dims=_dims,
    measures=_measures,
    stage_measures=_raw_measures("", ""),
    a_dims=sql.SQL(", ").join(sql.Identifier("a", d) for d in DIMENSIONS),
    neg_measures=_raw_measures("a", "-"),
)


# The rows a batch has just inserted into the raw table, when all of its keys were new: its own
# transaction's rows (`xmin`, parameter `xid`) in the hours it wrote (parameter `hours`, which
# limits the read to those hours' rows through the time index).
INSERTED_ROWS = sql.SQL(
    "(SELECT * FROM allocation WHERE window_start = ANY(%(hours)s) AND xmin = %(xid)s::xid)"
)


def fill_grains(source: str) -> sql.Composed:
    """Group the batch's delta into both grains in one pass over it (grouping sets): from the
    rows just inserted (`inserted`, each counts +1; the statement takes the parameters of
    INSERTED_ROWS), or from the raw-level delta `alloc_delta` (`delta`)."""
    if source == "inserted":
        sums = [
            sql.SQL("count(*) AS row_count"),
            *(sql.SQL("sum({m}) AS {m}").format(m=sql.Identifier(m)) for m in MONEY_MEASURES),
            *(
                sql.SQL("sum(" + e.format(t="") + ") AS {}").format(sql.Identifier(name))
                for name, e in USAGE_MEASURES.items()
            ),
        ]
        rows: sql.Composable = sql.SQL("{} AS inserted").format(INSERTED_ROWS)
    elif source == "delta":
        sums = [
            sql.SQL("sum({c}) AS {c}").format(c=sql.Identifier(c)) for c in ("row_count", *MEASURES)
        ]
        rows = sql.Identifier("alloc_delta")
    else:
        raise ValueError(f"unknown grain source {source!r}")
    daily, groups = DAILY_GRAIN, GROUP_GRAIN
    day = sql.SQL("time_bucket({}::interval, window_start)").format(sql.Literal(daily.interval))
    hour = sql.SQL("time_bucket({}::interval, window_start)").format(sql.Literal(groups.interval))

    def names(dimensions: tuple[str, ...]) -> sql.Composable:
        return sql.SQL(", ").join(sql.Identifier(d) for d in dimensions)

    return sql.SQL(
        "WITH grouped AS ("
        " SELECT {day} AS day, {hour} AS hour, {dims}, GROUPING({hour}) AS in_daily,"
        " {sums}"
        " FROM {rows} GROUP BY GROUPING SETS (({day}, {dims}), ({hour}, {group_dims}))"
        "), daily AS ("
        " INSERT INTO {daily} (window_start, {dims}, row_count, {measures})"
        " SELECT day, {dims}, {measure_columns} FROM grouped WHERE in_daily = 1"
        ")"
        " INSERT INTO {groups} (window_start, {group_dims}, row_count, {measures})"
        " SELECT hour, {group_dims}, {measure_columns} FROM grouped WHERE in_daily = 0"
    ).format(
        day=day,
        hour=hour,
        dims=names(daily.dimensions),
        group_dims=names(groups.dimensions),
        sums=sql.SQL(", ").join(sums),
        rows=rows,
        daily=sql.Identifier(daily.table),
        groups=sql.Identifier(groups.table),
        measures=_measures,
        measure_columns=sql.SQL(", ").join(sql.Identifier(c) for c in ("row_count", *MEASURES)),
    )


def apply_delta(level: RollupLevel) -> sql.Composed:
    """Add the batch's delta to one level, from its grain: summed into the level's buckets, or
    as it is when the grain has the level's own bucket width and dimensions (each grain row is
    then already one of the level's rows)."""
    grain = grain_of(level)
    table = sql.Identifier(level.table)
    dims = sql.SQL(", ").join(sql.Identifier(d) for d in level.dimensions)
    key = sql.SQL(", ").join(
        [sql.Identifier("cluster_id"), sql.Identifier("bucket")]
        + [sql.Identifier(d) for d in level.dimensions if d != "cluster_id"]
    )
    updates = sql.SQL(", ").join(
        sql.SQL("{col} = {table}.{col} + EXCLUDED.{col}").format(col=sql.Identifier(c), table=table)
        for c in ("row_count", *MEASURES)
    )
    sums = sql.SQL(", ").join(
        sql.SQL("sum({c})::bigint").format(c=sql.Identifier(c)) for c in ("row_count", *MEASURES)
    )
    if (grain.interval, grain.dimensions) == (level.interval, level.dimensions):
        rows = sql.SQL("SELECT window_start AS bucket, {dims}, row_count, {measures} FROM {source}")
    else:
        rows = sql.SQL(
            "SELECT time_bucket({interval}::interval, window_start) AS bucket, {dims}, {sums}"
            " FROM {source} GROUP BY bucket, {dims}"
        )
    return sql.SQL(
        "INSERT INTO {table} (bucket, {dims}, row_count, {measures}) {rows} ORDER BY {key}"
        " ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(
        table=table,
        dims=dims,
        measures=_measures,
        rows=rows.format(
            interval=sql.Literal(level.interval),
            dims=dims,
            measures=_measures,
            sums=sums,
            source=sql.Identifier(grain.table),
        ),
        key=key,
        updates=updates,
    )


def prune_empty(level: RollupLevel) -> sql.Composed:
    """Rollup rows left with no raw row behind them (their rows moved to another group).

    Only a key whose delta in this batch is negative can have reached zero, so the rows are found
    by their full key. The bucket range (parameters `first` and `last`, the batch's oldest and
    newest window start) lets TimescaleDB exclude every other chunk when it plans the statement.
    """
    dims = sql.SQL(", ").join(sql.Identifier(d) for d in level.dimensions)
    same_key = sql.SQL(" AND ").join(
        sql.SQL("t.{c} = d.{c}").format(c=sql.Identifier(c)) for c in ("bucket", *level.dimensions)
    )
    return sql.SQL(
        "DELETE FROM {table} t USING ("
        " SELECT time_bucket({interval}::interval, window_start) AS bucket, {dims}"
        " FROM {source} GROUP BY 1, {dims} HAVING sum(row_count) < 0) d"
        " WHERE {same_key} AND t.row_count = 0"
        " AND t.bucket BETWEEN time_bucket({interval}::interval, %(first)s::timestamptz)"
        " AND %(last)s"
    ).format(
        table=sql.Identifier(level.table),
        interval=sql.Literal(level.interval),
        dims=dims,
        source=sql.Identifier(grain_of(level).table),
        same_key=same_key,
    )
