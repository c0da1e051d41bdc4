"""What the aggregator tests share: producing streams, waiting for commits, reading the dead-letter
topic, and the ground truth the database must match.

The ground truth is computed here in Python from the events themselves (newest `produced_at` per
raw key, buckets by calendar arithmetic), never by calling the aggregator's own code, so a bug in
the writer cannot hide behind an identical bug in the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from services.aggregator.consumer import Aggregator, AggregatorStats
from shared.db.pool import make_pool
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationEvent, encode_event
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, DatabaseSettings, KafkaSettings

NIL_UUID = uuid.UUID(int=0)

# Raw columns in the order `fetch_raw` selects them and `expected_raw_row` builds them.
RAW_COLUMNS = (
    "cluster_id",
    "allocation_key",
    "window_start",
    "window_end",
    "event_id",
    "kind",
    "namespace",
    "controller_kind",
    "controller",
    "pod",
    "container",
    "node",
    "node_group",
    "workload_uid",
    "service",
    "team",
    "owner",
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
    "produced_at",
)
ROLLUP_DIMENSIONS = (
    "cluster_id",
    "namespace",
    "workload_uid",
    "node_group",
    "service",
    "team",
    "owner",
    "kind",
)
ROLLUP_MEASURES = (
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
# Resource quantities on the rollups: (average column, unit): average x minutes as micro
# core-hours ("micro") for CPU and GPU, as KiB-hours ("kib") for RAM, rounded half to even.
USAGE_ROLLUP_MEASURES: dict[str, tuple[str, str]] = {
    "cpu_request_micro_core_hours": ("cpu_core_request_average", "micro"),
    "cpu_usage_micro_core_hours": ("cpu_core_usage_average", "micro"),
    "ram_request_kib_hours": ("ram_byte_request_average", "kib"),
    "ram_usage_kib_hours": ("ram_byte_usage_average", "kib"),
    "gpu_request_micro_hours": ("gpu_request_average", "micro"),
    "gpu_usage_micro_hours": ("gpu_usage_average", "micro"),
}
ALL_ROLLUP_MEASURES = ROLLUP_MEASURES + tuple(USAGE_ROLLUP_MEASURES)
_RESOLUTIONS = {"hourly": "1 hour", "daily": "1 day", "weekly": "1 week", "monthly": "1 month"}
# Every rollup relation: (bucket width, the dimensions it groups by). The detailed levels group by
# every dimension; the per-cluster totals by cluster only.
ROLLUP_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    **{f"cost_{name}": (width, ROLLUP_DIMENSIONS) for name, width in _RESOLUTIONS.items()},
    **{f"cost_cluster_{name}": (width, ("cluster_id",)) for name, width in _RESOLUTIONS.items()},
    **{
        f"cost_node_group_{name}": (width, ("cluster_id", "node_group"))
        for name, width in _RESOLUTIONS.items()
    },
}

RawKey = tuple[uuid.UUID, str, datetime]
Row = tuple[object, ...]
RollupKey = tuple[object, ...]
RollupValue = tuple[int, ...]


def raw_key(event: AllocationEvent) -> RawKey:
    return (event.cluster_id, event.name, event.window_start)


def expected_raw_row(event: AllocationEvent) -> Row:
    values: dict[str, object] = {c: getattr(event, c, None) for c in RAW_COLUMNS}
    values["allocation_key"] = event.name
    values["kind"] = event.kind.value
    values["workload_uid"] = event.workload_uid or NIL_UUID
    return tuple(values[c] for c in RAW_COLUMNS)


def expected_raw(events: Iterable[AllocationEvent]) -> dict[RawKey, Row]:
    """The final raw table: per key, the version with the newest `produced_at`.

    Generators give every version of a key its own `produced_at`; a tie would make the expected
    state depend on delivery order, which Kafka only fixes within one partition.
    """
    newest: dict[RawKey, AllocationEvent] = {}
    for event in events:
        key = raw_key(event)
        current = newest.get(key)
        if current is not None and current.produced_at == event.produced_at:
            assert current == event, f"two different versions of {key} share a produced_at"
        if current is None or event.produced_at > current.produced_at:
            newest[key] = event
    return {key: expected_raw_row(e) for key, e in newest.items()}


def bucket_start(moment: datetime, interval: str) -> datetime:
    """UTC bucket start: hours, days, ISO weeks (Monday) and calendar months."""
    moment = moment.astimezone(UTC)
    if interval == "1 hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "1 day":
        return day
    if interval == "1 week":
        return day - timedelta(days=day.weekday())
    if interval == "1 month":
        return day.replace(day=1)
    raise ValueError(interval)


def expected_rollup(
    rows: Iterable[Row], interval: str, dimensions: Sequence[str]
) -> dict[RollupKey, RollupValue]:
    index = {c: i for i, c in enumerate(RAW_COLUMNS)}
    totals: dict[RollupKey, list[int]] = {}
    for row in rows:
        start = row[index["window_start"]]
        assert isinstance(start, datetime)
        key = (bucket_start(start, interval), *(row[index[d]] for d in dimensions))
        sums = totals.setdefault(key, [0] * (1 + len(ALL_ROLLUP_MEASURES)))
        sums[0] += 1
        for i, measure in enumerate(ROLLUP_MEASURES, start=1):
            value = row[index[measure]]
            assert isinstance(value, int)
            sums[i] += value
        minutes = row[index["minutes"]]
        assert isinstance(minutes, float)
        for i, (column, unit) in enumerate(
            USAGE_ROLLUP_MEASURES.values(), start=1 + len(ROLLUP_MEASURES)
        ):
            average = row[index[column]]
            assert isinstance(average, float)
            sums[i] += _usage_units(average, minutes, unit)
    return {key: tuple(sums) for key, sums in totals.items()}


_SQL_SCALE = {"micro": "1e6::float8 / 60", "kib": "1 / 61440::float8"}


def _usage_units(average: float, minutes: float, unit: str) -> int:
    """An average over `minutes` in integer units, as Python computes it: the database must agree.
    Factors below 1e-100 count as zero (a product that small would underflow)."""
    if average < 1e-100 or minutes < 1e-100:
        return 0
    if unit == "micro":
        return round(average * minutes * 1e6 / 60)
    return round(average * minutes / 61440.0)


def fetch_raw(conn: psycopg.Connection[tuple[object, ...]]) -> dict[RawKey, Row]:
    rows = conn.execute(f"SELECT {', '.join(RAW_COLUMNS)} FROM allocation").fetchall()
    found: dict[RawKey, Row] = {}
    for row in rows:
        key = (row[0], row[1], row[2])
        assert isinstance(key[0], uuid.UUID)
        assert isinstance(key[1], str)
        assert isinstance(key[2], datetime)
        found[(key[0], key[1], key[2])] = tuple(row)
    return found


def fetch_rollup(
    conn: psycopg.Connection[tuple[object, ...]], table: str, dimensions: Sequence[str]
) -> dict[RollupKey, RollupValue]:
    dims = ", ".join(dimensions)
    measures = ", ".join(ALL_ROLLUP_MEASURES)
    rows = conn.execute(f"SELECT bucket, {dims}, row_count, {measures} FROM {table}").fetchall()
    width = 1 + len(dimensions)
    result: dict[RollupKey, RollupValue] = {}
    for row in rows:
        key = tuple(row[:width])
        assert key not in result, f"{table} holds {key} twice"
        result[key] = tuple(int(v) for v in row[width:])  # type: ignore[call-overload]
    return result


def group_by_raw(
    conn: psycopg.Connection[tuple[object, ...]], interval: str, dimensions: Sequence[str]
) -> dict[RollupKey, RollupValue]:
    dims = ", ".join(dimensions)
    usage = [
        f"sum(CASE WHEN {column} < 1e-100 OR minutes < 1e-100 THEN 0"
        f" ELSE round({column} * minutes * {_SQL_SCALE[unit]}) END)::bigint"
        for column, unit in USAGE_ROLLUP_MEASURES.values()
    ]
    sums = ", ".join([*(f"sum({m})::bigint" for m in ROLLUP_MEASURES), *usage])
    rows = conn.execute(
        f"SELECT time_bucket(%s::interval, window_start) AS b, {dims}, count(*), {sums}"
        f" FROM allocation GROUP BY b, {dims}",
        (interval,),
    ).fetchall()
    width = 1 + len(dimensions)
    return {tuple(r[:width]): tuple(int(v) for v in r[width:]) for r in rows}  # type: ignore[call-overload]


def _first_difference(
    name: str, found: Mapping[object, object], wanted: Mapping[object, object]
) -> str:
    missing = [k for k in wanted if k not in found]
    extra = [k for k in found if k not in wanted]
    changed = [(k, found[k], wanted[k]) for k in wanted if k in found and found[k] != wanted[k]]
    return (
        f"{name}: {len(missing)} missing, {len(extra)} extra, {len(changed)} different; "
        f"first missing {missing[:2]}, first extra {extra[:2]}, first different {changed[:2]}"
    )


def assert_database_matches(database_url: str, events: Sequence[AllocationEvent]) -> int:
    """Raw rows equal the Python ground truth; every rollup level equals both the GROUP BY of the
    raw rows and the Python ground truth, to the micro-unit, with no extra rows. Returns the
    number of raw rows."""
    wanted_raw = expected_raw(events)
    with psycopg.connect(database_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        raw = fetch_raw(conn)
        assert raw == wanted_raw, _first_difference("allocation", raw, wanted_raw)
        for table, (interval, dimensions) in ROLLUP_TABLES.items():
            rollup = fetch_rollup(conn, table, dimensions)
            grouped = group_by_raw(conn, interval, dimensions)
            assert rollup == grouped, _first_difference(f"{table} vs GROUP BY", rollup, grouped)
            computed = expected_rollup(wanted_raw.values(), interval, dimensions)
            assert rollup == computed, _first_difference(f"{table} vs Python", rollup, computed)
    return len(raw)


def truncate_pipeline_tables(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        # In `managed` mode cost_hourly is a view of the raw rows and an archive table.
        managed = conn.execute("SELECT to_regclass('cost_hourly_archive') IS NOT NULL").fetchone()
        tables = [
            "cost_hourly_archive" if managed and managed[0] and t == "cost_hourly" else t
            for t in ROLLUP_TABLES
        ]
        conn.execute(
            f"TRUNCATE allocation, {', '.join(tables)}, workload, cluster, organization CASCADE"
        )


def cluster_key(event: AllocationEvent) -> bytes:
    """Events are keyed by cluster, as the collector keys them, so a cluster stays in order."""
    return str(event.cluster_id).encode()


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None


def records_of(events: Iterable[AllocationEvent]) -> list[Record]:
    return [Record(cluster_key(e), encode_event(e)) for e in events]


async def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    """Send in order (one partition's records keep their order) and wait for every ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, r.value, key=r.key) for r in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def committed_offsets(
    bootstrap: str, group: str, topic: str, partitions: int
) -> dict[TopicPartition, int]:
    """The group's committed offsets, read without joining the group (0 where none yet)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        found = {}
        for p in range(partitions):
            tp = TopicPartition(topic, p)
            found[tp] = await consumer.committed(tp) or 0
        return found
    finally:
        await consumer.stop()


def total(offsets: Mapping[TopicPartition, int]) -> int:
    return sum(offsets.values())


def run_scoped_kafka(bootstrap: str, name: str, partitions: int) -> KafkaSettings:
    """Topics and a consumer group of one test run's own (`name`-<random id>), so runs on the
    shared broker never read each other's records or offsets."""
    run_id = uuid.uuid4().hex[:10]
    return KafkaSettings(
        bootstrap=bootstrap,
        partitions=partitions,
        consumer_group=f"{name}-{run_id}",
        topic_prefix=f"{name}-{run_id}.",
    )


async def until_committed(
    kafka: KafkaSettings, count: int, running: asyncio.Task[None], seconds: float
) -> None:
    """Wait until the group has committed `count` allocation records; fail if the aggregator
    task `running` ends first, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if running.done():
            running.result()
            raise AssertionError("the aggregator returned")
        offsets = await committed_offsets(
            kafka.bootstrap, kafka.consumer_group, kafka.allocations_topic, kafka.partitions
        )
        if total(offsets) >= count:
            return
        assert time.monotonic() < deadline, f"committed {offsets}, expected {count} in all"
        await asyncio.sleep(0.05)


async def read_topic(
    bootstrap: str, topic: str, expected: int, wait_seconds: float = 20.0
) -> list[tuple[bytes | None, dict[str, bytes]]]:
    """Read `expected` records from the start of `topic` (value, headers), then a short while
    longer so that surplus records are seen too."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[tuple[bytes | None, dict[str, bytes]]] = []
    try:
        deadline = time.monotonic() + wait_seconds
        linger_until: float | None = None
        while time.monotonic() < deadline:
            if linger_until is not None and time.monotonic() > linger_until:
                break
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                found.extend((r.value, dict(r.headers)) for r in batch)
            if len(found) >= expected and linger_until is None:
                linger_until = time.monotonic() + 0.5
        return found
    finally:
        await consumer.stop()


def as_multiset(values: Iterable[bytes | None]) -> Counter[bytes | None]:
    return Counter(values)


async def run_until_caught_up(
    kafka: KafkaSettings,
    settings: AggregatorSettings,
    database_url: str,
    wait_seconds: float = 60.0,
) -> AggregatorStats:
    """Run the real aggregator in this process until it has committed every record that is in
    the topic now, then stop it the way SIGTERM would (drain, return)."""
    await ensure_topics(kafka)
    ends = await end_offsets(kafka.bootstrap, kafka.allocations_topic, kafka.partitions)
    # What earlier runs of the same group already committed counts as caught up too.
    done = await committed_offsets(
        kafka.bootstrap, kafka.consumer_group, kafka.allocations_topic, kafka.partitions
    )
    database = DatabaseSettings(url=database_url, pool_min=1, pool_max=2)
    async with make_pool(database, "aggregator-test") as pool:
        aggregator = Aggregator(kafka, settings, pool)
        await aggregator.start()
        stop = asyncio.Event()
        running = asyncio.create_task(aggregator.run(stop))
        try:
            deadline = time.monotonic() + wait_seconds
            while any(
                max(done[tp], aggregator.stats.committed.get(tp, 0)) < end
                for tp, end in ends.items()
            ):
                if running.done():
                    running.result()
                    raise AssertionError("the aggregator returned before catching up")
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"not caught up after {wait_seconds:.0f}s: committed "
                        f"{aggregator.stats.committed}, end offsets {ends}"
                    )
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            try:
                await asyncio.wait_for(running, 30)
            finally:
                await aggregator.stop()
        return aggregator.stats


def synthetic_stream(
    count: int, seed: int, poison: int = 0
) -> tuple[list[AllocationEvent], list[Record]]:
    """`count` small valid events (new keys, restatements, replays, older versions after newer
    ones, all shuffled) plus `poison` undecodable records; returns (valid events, all records in
    produce order)."""
    rng = random.Random(seed)
    organization = uuid.UUID(int=rng.getrandbits(128))
    clusters = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(3)]
    first_hour = datetime(2024, 2, 20, tzinfo=UTC)
    produced = datetime(2024, 3, 10, tzinfo=UTC)
    events: list[AllocationEvent] = []
    for i in range(count):
        roll = rng.random()
        if events and roll < 0.10:
            events.append(rng.choice(events))  # replay
            continue
        if events and roll < 0.25:
            # Another version of a key seen before: newer than the one it restates, or (when
            # that one is itself a later version) older; either way its produced_at is unique.
            older = rng.choice(events)
            events.append(
                msgspec.structs.replace(
                    older,
                    produced_at=produced + timedelta(microseconds=i),
                    node_group=rng.choice(("general", "spot", "gpu")),
                    cost=rng.randrange(10**9),
                    idle_share=rng.randrange(10**6),
                )
            )
            continue
        cluster = clusters[i % len(clusters)]
        start = first_hour + timedelta(hours=rng.randrange(24 * 20))
        workload = rng.randrange(200)
        events.append(
            AllocationEvent(
                schema_version=ALLOCATION_SCHEMA_VERSION,
                event_id=uuid.UUID(int=rng.getrandbits(128)),
                organization_id=organization,
                cluster_id=cluster,
                cluster_name="c",
                window_start=start,
                window_end=start + timedelta(hours=1),
                name=f"pod-{workload}-{i}",
                namespace=f"ns-{workload % 7}",
                node_group=rng.choice(("general", "spot", "gpu")),
                team=rng.choice(("", "a", "b")),
                cost=rng.randrange(10**9),
                cpu_cost=rng.randrange(10**9),
                idle_share=rng.randrange(10**6),
                produced_at=produced + timedelta(microseconds=i),
            )
        )
    rng.shuffle(events)  # windows out of order; some older versions now follow newer ones
    records = records_of(events)
    for n in range(poison):
        records.insert(rng.randrange(len(records) + 1), Record(b"poison", b"\xff poison %d" % n))
    return events, records


@contextlib.contextmanager
def aggregator_process(env: Mapping[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`costpipe aggregator` as its own process (output to `log_path`), always stopped after."""
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "aggregator"],
            env={**os.environ, "COSTPIPE_LOG_LEVEL": "INFO", "COSTPIPE_METRICS_PORT": "0", **env},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def stop_gracefully(
    process: subprocess.Popen[bytes], log_path: Path, wait_seconds: float = 30
) -> None:
    """SIGTERM, and the clean exit Kubernetes expects (0 after draining)."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=wait_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"aggregator ignored SIGTERM:\n{tail(log_path)}") from None
    assert code == 0, f"aggregator exited {code}:\n{tail(log_path)}"


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def committed_total(found: Mapping[TopicPartition, OffsetAndMetadata]) -> int:
    """The total of an admin client's committed offsets (-1 where the group has none yet)."""
    return sum(meta.offset for meta in found.values() if meta.offset > 0)


class CommitWatch:
    """The group's committed total, polled through one admin client kept open for the whole wait.

    A client per poll costs the broker a connection, a metadata round and a coordinator lookup
    each time; polled every few milliseconds on a two-core machine, that load was taken from the
    very pipeline being waited on (and measured, in the benchmark).
    """

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._runner = asyncio.Runner()
        self._admin = self._runner.run(self._client(kafka.bootstrap))
        self._partitions = [
            TopicPartition(kafka.allocations_topic, p) for p in range(kafka.partitions)
        ]

    @staticmethod
    async def _client(bootstrap: str) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(bootstrap_servers=bootstrap)  # binds to the running loop

    def __enter__(self) -> CommitWatch:
        self._runner.run(self._admin.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._runner.run(self._admin.close())
        finally:
            self._runner.close()

    def committed(self) -> int:
        found = self._runner.run(
            self._admin.list_consumer_group_offsets(
                self._kafka.consumer_group, partitions=self._partitions
            )
        )
        return committed_total(found)

    def wait(
        self,
        at_least: int,
        processes: Sequence[tuple[subprocess.Popen[bytes] | None, Path]],
        wait_seconds: float,
        poll_seconds: float = 0.1,
        on_first: Callable[[], object] | None = None,
    ) -> tuple[int, float | None, int]:
        """Poll until the committed total reaches `at_least`; fails early if an aggregator
        process dies (each comes with its log, quoted on failure; None: a log only). Returns the
        total seen, when (`time.monotonic()`) a poll first saw the total grow past where it stood
        at the start (None if it already stood at `at_least`), and the total that poll saw;
        `on_first` is called right after that poll."""
        started = time.monotonic()
        base = seen = self.committed()
        first: tuple[float, int] | None = None
        while seen < at_least:
            for process, log_path in processes:
                if process is not None and process.poll() is not None:
                    raise AssertionError(
                        f"aggregator exited {process.returncode}:\n{tail(log_path)}"
                    )
            elapsed = time.monotonic() - started
            if elapsed > wait_seconds:
                logs = "\n".join(tail(log_path) for _, log_path in processes)
                raise AssertionError(
                    f"only {seen} of {at_least} offsets committed after {wait_seconds:.0f}s:\n"
                    f"{logs}"
                )
            time.sleep(poll_seconds)
            seen = self.committed()
            if first is None and seen > base:
                first = (time.monotonic(), seen)
                if on_first is not None:
                    on_first()
        if first is None:
            return seen, None, seen
        return seen, first[0], first[1]


def wait_for_commits(
    kafka: KafkaSettings,
    at_least: int,
    process: subprocess.Popen[bytes] | None,
    log_path: Path,
    wait_seconds: float,
) -> int:
    """Poll the group's committed offsets until their total reaches `at_least`; fails early if
    the aggregator process dies. Returns the total seen."""
    with CommitWatch(kafka) as watch:
        return watch.wait(at_least, [(process, log_path)], wait_seconds)[0]


async def copy_committed_offsets(
    bootstrap: str, topic: str, partitions: int, source_group: str, target_group: str
) -> dict[TopicPartition, int]:
    """Give `target_group` exactly the offsets `source_group` has committed."""
    offsets = await committed_offsets(bootstrap, source_group, topic, partitions)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=target_group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    return offsets
