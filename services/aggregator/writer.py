"""One database transaction per batch: dimensions, raw rows and rollup deltas together.

Writes are idempotent: an event that is already stored (same key, same or newer `produced_at`)
changes nothing, so Kafka's at-least-once delivery still counts every allocation exactly once.
A replayed older version of a row never overwrites a newer one.

Most batches hold only allocation-hours never seen before. Those are copied straight into the
raw table, with no staging table and no lookup of stored versions, and the rows inserted are
themselves the rollups' delta. Only when the copy meets a stored key (a replay after a restart, a
restatement) is the transaction rolled back and the batch written the general way: staged, stale
versions dropped, the rows replaced subtracted, the raw rows upserted. See
docs/decisions/0007-hourly-from-raw.md and 0009-direct-copy.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from psycopg import AsyncCursor, errors
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from services.aggregator.rollups import (
    CREATE_DELTA,
    CREATE_GRAINS,
    DAILY_GRAIN,
    FILL_DELTA,
    LEVELS,
    RollupLevel,
    apply_delta,
    fill_grains,
    prune_empty,
)
from shared.db.data_version import raise_versions
from shared.db.pool import Conn
from shared.events import AllocationEvent

NIL_UUID = uuid.UUID(int=0)
WORK_MEM = "64MB"

_TEXT = (
    "kind",
    "namespace",
    "controller_kind",
    "controller",
    "pod",
    "container",
    "node",
    "node_group",
)
_LABELS = ("service", "team", "owner")
MONEY_COLUMNS = (
    "cpu_cost",
    "gpu_cost",
    "ram_cost",
    "pv_cost",
    "network_cost",
    "load_balancer_cost",
    "shared_cost",
    "external_cost",
    "total_cost",
    "cost",
    "idle_share",
)
_USAGE = (
    "minutes",
    "cpu_core_hours",
    "cpu_core_request_average",
    "cpu_core_usage_average",
    "ram_byte_hours",
    "ram_byte_request_average",
    "ram_byte_usage_average",
    "gpu_hours",
    "gpu_request_average",
    "gpu_usage_average",
)
# (column, binary COPY type), in the order `_row` produces values.
RAW_LAYOUT: tuple[tuple[str, str], ...] = (
    ("cluster_id", "uuid"),
    ("allocation_key", "text"),
    ("window_start", "timestamptz"),
    ("window_end", "timestamptz"),
    ("event_id", "uuid"),
    *((c, "text") for c in _TEXT),
    ("workload_uid", "uuid"),
    *((c, "text") for c in _LABELS),
    *((c, "int8") for c in MONEY_COLUMNS),
    *((c, "float8") for c in _USAGE),
    ("produced_at", "timestamptz"),
)
RAW_COLUMNS = tuple(name for name, _ in RAW_LAYOUT)
_RAW_TYPES = [kind for _, kind in RAW_LAYOUT]
_COLUMN_LIST = ", ".join(RAW_COLUMNS)
_UPDATE_LIST = ", ".join(
    f"{c} = EXCLUDED.{c}"
    for c in RAW_COLUMNS
    if c not in ("cluster_id", "allocation_key", "window_start")
)


def _row(e: AllocationEvent) -> tuple[object, ...]:
    return (
        e.cluster_id,
        e.name,
        e.window_start,
        e.window_end,
        e.event_id,
        e.kind.value,
        e.namespace,
        e.controller_kind,
        e.controller,
        e.pod,
        e.container,
        e.node,
        e.node_group,
        e.workload_uid or NIL_UUID,
        e.service,
        e.team,
        e.owner,
        e.cpu_cost,
        e.gpu_cost,
        e.ram_cost,
        e.pv_cost,
        e.network_cost,
        e.load_balancer_cost,
        e.shared_cost,
        e.external_cost,
        e.total_cost,
        e.cost,
        e.idle_share,
        e.minutes,
        e.cpu_core_hours,
        e.cpu_core_request_average,
        e.cpu_core_usage_average,
        e.ram_byte_hours,
        e.ram_byte_request_average,
        e.ram_byte_usage_average,
        e.gpu_hours,
        e.gpu_request_average,
        e.gpu_usage_average,
        e.produced_at,
    )


class _Versioned(Protocol):
    @property
    def produced_at(self) -> datetime: ...


V = TypeVar("V", bound=_Versioned)


def newest_per_key(events: Iterable[V], key: Callable[[V], Hashable]) -> list[V]:
    """One event per raw key: the newest `produced_at`, the later one in the stream on a tie.

    Unsorted: every statement that writes shared rows orders them itself (the raw upsert by its
    key, each rollup upsert by the rollup's key), which is what keeps concurrent aggregators from
    deadlocking."""
    latest: dict[Hashable, V] = {}
    for event in events:
        k = key(event)
        current = latest.get(k)
        if current is None or event.produced_at >= current.produced_at:
            latest[k] = event
    return list(latest.values())


def latest_per_key(events: Iterable[AllocationEvent]) -> list[AllocationEvent]:
    return newest_per_key(events, lambda e: (e.cluster_id.int, e.name, e.window_start))


def _ids_distinct(events: Sequence[AllocationEvent]) -> bool:
    """No two events share an id. Ids derive from the raw key (shared/ids.py), so events that
    pass hold each key once, unless a producer minted ids of its own: the raw table's unique key
    still refuses those. A quarter of the cost of grouping the events by key."""
    return len({e.event_id.int for e in events}) == len(events)


class StoredKeys(Exception):
    """A batch written as all-new rows met a stored key. Its transaction is void: whoever owns
    the transaction rolls it back, then the batch is written again with `general=True`."""


@dataclass(frozen=True)
class WriteResult:
    rows_staged: int
    rows_written: int


async def _copy(conn: Conn, table: str, rows: Sequence[AllocationEvent]) -> None:
    async with conn.cursor().copy(
        f"COPY {table} ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(_RAW_TYPES)
        for event in rows:
            await copy.write_row(_row(event))


async def _transaction_xid(conn: Conn) -> str:
    """The transaction's id as the raw rows' `xmin` holds it: the 64-bit id without its epoch.
    Rows the transaction wrote outside any savepoint carry it (BatchWriter.write opens none)."""
    cursor = await conn.execute("SELECT pg_current_xact_id()::text")
    found = await cursor.fetchone()
    if found is None:
        raise RuntimeError("the database returned no transaction id")
    return str(int(found[0]) % 2**32)


GRAIN_ROWS = f"SELECT coalesce(sum(row_count), 0) FROM {DAILY_GRAIN.table}"


async def _check_grains_saw(cursor: AsyncCursor[TupleRow], rows: int) -> None:
    """Refuse to add a delta that missed rows (`cursor` has run GRAIN_ROWS). The grains find the
    inserted rows by the transaction's id; rows written inside a savepoint carry another one (a
    caller that wrapped the write in a nested transaction), and the rollups would silently lose
    them."""
    found = await cursor.fetchone()
    counted = int(found[0]) if found is not None else 0
    if counted != rows:
        raise RuntimeError(
            f"the rollup delta counts {counted} of the {rows} rows just inserted: the batch was"
            " not written at the top level of its transaction"
        )


class BatchWriter:
    """Writes batches of events into the raw hypertable and the managed rollups."""

    # Emptied in the `continuous` mode, where the rollups are derived by TimescaleDB itself
    # (services/aggregator/continuous.py).
    rollup_levels: tuple[RollupLevel, ...] = LEVELS

    async def write(
        self,
        conn: Conn,
        events: Sequence[AllocationEvent],
        *,
        general: bool = False,
    ) -> WriteResult:
        """Write in the caller's transaction when there is one, else in a transaction of its own.

        Unless `general`, the rows are first written as all new. If one of their keys is stored
        already, that raises StoredKeys in the caller's transaction (which must be rolled back
        and the call repeated with `general=True`: the failed copy leaves it unusable); in a
        transaction of its own the writer does that itself."""
        if not events:
            return WriteResult(0, 0)
        if conn.info.transaction_status != TransactionStatus.IDLE:
            return await self._write(conn, events, general)
        try:
            async with conn.transaction():
                return await self._write(conn, events, general)
        except StoredKeys:
            async with conn.transaction():
                return await self._write(conn, events, True)

    async def _write(
        self,
        conn: Conn,
        events: Sequence[AllocationEvent],
        general: bool,
    ) -> WriteResult:
        # A batch holding a key twice is written the general way: the copy would refuse it.
        general = general or not _ids_distinct(events)
        rows = latest_per_key(events) if general else events
        # Room to group and sort a whole batch in memory: the default spills every large
        # batch's rollup aggregation to temporary files.
        await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        await self._dimensions(conn, rows)
        if not general:
            # Not sorted (a sort of the wide rows cost a fifth of the insert): only two
            # aggregators handed the same records during a rebalance insert the same new keys at
            # once, in the same (stream) order; a deadlock between them anyway is retried like
            # any transaction the database aborts.
            try:
                await _copy(conn, "allocation", rows)
            except errors.UniqueViolation as exc:
                raise StoredKeys(str(exc)) from exc
            if self.rollup_levels:
                inserted = {
                    "hours": sorted({e.window_start for e in rows}),
                    "xid": await _transaction_xid(conn),
                }
                # Sent together (a pipeline): one round trip, not one per statement. The count
                # is checked once all have run; a failed check voids the transaction with them.
                async with conn.pipeline():
                    for create in CREATE_GRAINS:
                        await conn.execute(create)
                    await conn.execute(fill_grains("inserted"), inserted, prepare=False)
                    counted = await conn.execute(GRAIN_ROWS)
                    for level in self.rollup_levels:
                        await conn.execute(apply_delta(level))
                await _check_grains_saw(counted, len(rows))
            await raise_versions(conn, (e.cluster_id for e in rows))
            return WriteResult(len(rows), len(rows))
        # Planned with these values each time (never as a prepared, generic plan), so that only
        # the chunks between them are read.
        window = {
            "first": min(e.window_start for e in rows),
            "last": max(e.window_start for e in rows),
        }
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS alloc_stage"
            " (LIKE allocation INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await _copy(conn, "alloc_stage", rows)
        written = await self._replace(conn, window)
        if self.rollup_levels:
            for create in CREATE_GRAINS:
                await conn.execute(create)
            await conn.execute(fill_grains("delta"))
            for level in self.rollup_levels:
                await conn.execute(apply_delta(level))
                # Only a replaced row can leave a rollup row empty.
                await conn.execute(prune_empty(level), window, prepare=False)
        await raise_versions(conn, (e.cluster_id for e in rows))
        return WriteResult(len(rows), written)

    async def _replace(self, conn: Conn, window: dict[str, datetime]) -> int:
        """The general write: drop staged versions older than the stored ones, compute the delta
        (staged rows +1, the stored rows they replace -1), upsert the raw rows."""
        # Temporary tables get no statistics from autovacuum; without them the planner assumes a
        # large stage and joins it to the raw table by scanning all of it.
        await conn.execute("ANALYZE alloc_stage (cluster_id, allocation_key, window_start)")
        # A replay of an older version must not overwrite what a restatement already wrote.
        await conn.execute(
            "DELETE FROM alloc_stage s USING allocation a"
            " WHERE a.cluster_id = s.cluster_id AND a.allocation_key = s.allocation_key"
            " AND a.window_start = s.window_start AND a.produced_at >= s.produced_at"
            " AND a.window_start BETWEEN %(first)s AND %(last)s",
            window,
            prepare=False,
        )
        if self.rollup_levels:
            await conn.execute(CREATE_DELTA)
            await conn.execute(FILL_DELTA, window, prepare=False)
        cursor = await conn.execute(
            f"INSERT INTO allocation ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM alloc_stage"
            " ORDER BY cluster_id, allocation_key, window_start"
            f" ON CONFLICT (cluster_id, allocation_key, window_start) DO UPDATE SET {_UPDATE_LIST}"
        )
        return cursor.rowcount

    async def _dimensions(self, conn: Conn, rows: Sequence[AllocationEvent]) -> None:
        # Keyed by the UUIDs' integers: hashing a uuid.UUID runs Python code, and this loop sees
        # every event of the batch.
        by_cluster: dict[int, AllocationEvent] = {}
        workloads: dict[int, tuple[AllocationEvent, datetime, datetime]] = {}
        for e in rows:
            by_cluster[e.cluster_id.int] = e
            if e.workload_uid is None:
                continue
            key, start = e.workload_uid.int, e.window_start
            seen = workloads.get(key)
            if seen is None:
                workloads[key] = (e, start, start)
            elif start < seen[1]:
                workloads[key] = (seen[0], start, seen[2])
            elif start > seen[2]:
                workloads[key] = (seen[0], seen[1], start)
        organizations = sorted({(e.organization_id,) for e in by_cluster.values()})
        clusters = sorted(
            (e.cluster_id, e.organization_id, e.cluster_name) for e in by_cluster.values()
        )
        workload_rows = [
            (
                e.workload_uid,
                e.cluster_id,
                e.namespace,
                e.controller_kind or "pod",
                e.controller or e.pod,
                first,
                last,
            )
            for _, (e, first, last) in sorted(workloads.items())
        ]
        async with conn.pipeline(), conn.cursor() as cur:  # the statements sent together
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
            if not workload_rows:
                return
            # One statement for the whole batch (a batch names thousands of workloads). A
            # workload whose seen-range does not grow is filtered out before the upsert, which
            # would lock its row (and write a new version of it) even to change nothing. The
            # arrays go in binary (%b): their text form is built in Python, item by item, about
            # seven times slower.
            await cur.execute(
                "INSERT INTO workload (uid, cluster_id, namespace, kind, name, first_seen, last_seen)"
                " SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[],"
                " %b::timestamptz[], %b::timestamptz[]) AS n(uid, c, ns, k, name, first, last)"
                " WHERE NOT EXISTS (SELECT 1 FROM workload w WHERE w.uid = n.uid"
                " AND w.first_seen <= n.first AND w.last_seen >= n.last)"
                " ORDER BY uid"
                " ON CONFLICT (uid) DO UPDATE SET"
                " first_seen = LEAST(workload.first_seen, EXCLUDED.first_seen),"
                " last_seen = GREATEST(workload.last_seen, EXCLUDED.last_seen)"
                " WHERE workload.first_seen > EXCLUDED.first_seen"
                " OR workload.last_seen < EXCLUDED.last_seen",
                [list(column) for column in zip(*workload_rows, strict=True)],
            )
