"""Every event counted exactly once: random streams through a real topic and the real aggregator.

Streams mix replays (the same event again), restatements (same key, newer `produced_at`, other
costs and dimensions), windows out of order, older versions arriving after newer ones, and poison
messages. Afterwards the raw table must equal the newest version of every key, every rollup level
must equal the GROUP BY of the raw rows, and every poison message must sit on the dead-letter
topic with its reason, while the valid events around it still flowed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared.db.migrations import detect_license, migrate
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationEvent, AllocationKind, encode_event
from shared.ids import allocation_event_id
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, KafkaSettings
from tests.support.aggregator_helpers import (
    ROLLUP_TABLES,
    Record,
    assert_database_matches,
    cluster_key,
    end_offsets,
    produce,
    read_topic,
    run_scoped_kafka,
    run_until_caught_up,
    total,
    truncate_pipeline_tables,
)
from tests.support.services import Services

pytestmark = pytest.mark.integration

ORGANIZATIONS = (
    uuid.UUID("00000000-0000-4000-8000-00000000a001"),
    uuid.UUID("00000000-0000-4000-8000-00000000a002"),
)
CLUSTERS = (
    uuid.UUID("10000000-0000-4000-8000-000000000001"),
    uuid.UUID("10000000-0000-4000-8000-000000000002"),
    uuid.UUID("10000000-0000-4000-8000-000000000003"),
)
ORGANIZATION_OF = {c: ORGANIZATIONS[i % 2] for i, c in enumerate(CLUSTERS)}
NAMES = ("api/web-1", "api/web-2", "batch/etl-0", "__idle__", "__unallocated__", "db/pg-0")
WORKLOADS = (
    None,
    uuid.UUID("20000000-0000-4000-8000-000000000001"),
    uuid.UUID("20000000-0000-4000-8000-000000000002"),
)
# Monday 2024-02-26 20:00 UTC: eight days of hours cross a day, a week (Monday 2024-03-04) and a
# month (leap day, then 2024-03-01) boundary, so every rollup level sees several buckets.
FIRST_WINDOW = datetime(2024, 2, 26, 20, tzinfo=UTC)
WINDOW_HOURS = 8 * 24
PRODUCED_BASE = datetime(2024, 3, 10, tzinfo=UTC)
PARTITIONS = 3

MONEY = st.integers(min_value=0, max_value=10**10)
USAGE = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
CORES = st.floats(min_value=0, max_value=512, allow_nan=False, allow_infinity=False)
LABEL = st.sampled_from(("", "a", "b"))


@dataclass(frozen=True)
class Poison:
    record: Record
    reason: str  # a fragment the dead-letter reason must contain


@dataclass(frozen=True)
class Stream:
    """What the producer sends, in order, and what the aggregator is configured with."""

    items: tuple[AllocationEvent | Poison, ...]
    batch_max_events: int
    restart_at: int  # the aggregator is stopped and started again after this many items

    @property
    def events(self) -> list[AllocationEvent]:
        return [i for i in self.items if isinstance(i, AllocationEvent)]

    @property
    def poison(self) -> list[Poison]:
        return [i for i in self.items if isinstance(i, Poison)]


Key = tuple[uuid.UUID, str, int]


@st.composite
def versions(draw: st.DrawFn, key: Key, produced_at: datetime) -> AllocationEvent:
    """One version of a key; another version of the same key differs in costs and dimensions."""
    cluster_id, name, hour = key
    kind = draw(st.sampled_from(AllocationKind))
    window_start = FIRST_WINDOW + timedelta(hours=hour)
    # Idle-pool rows may be negative (Kubecost reports over-allocation that way); workloads not.
    cost = draw(st.integers(min_value=-(10**9), max_value=10**10) if kind.is_idle_pool else MONEY)
    return AllocationEvent(
        schema_version=ALLOCATION_SCHEMA_VERSION,
        event_id=allocation_event_id(cluster_id, window_start, name),
        organization_id=ORGANIZATION_OF[cluster_id],
        cluster_id=cluster_id,
        cluster_name=f"cluster-{CLUSTERS.index(cluster_id)}",
        window_start=window_start,
        window_end=window_start + timedelta(hours=1),
        name=name,
        kind=kind,
        namespace=draw(st.sampled_from(("api", "batch", "db", ""))),
        controller_kind=draw(st.sampled_from(("deployment", "statefulset", ""))),
        controller=draw(LABEL),
        pod=name.rpartition("/")[2],
        node=draw(st.sampled_from(("node-1", "node-2", ""))),
        node_group=draw(st.sampled_from(("general", "gpu", "spot", ""))),
        workload_uid=draw(st.sampled_from(WORKLOADS)),
        service=draw(LABEL),
        team=draw(LABEL),
        owner=draw(LABEL),
        cpu_cost=draw(MONEY),
        gpu_cost=draw(MONEY),
        ram_cost=draw(MONEY),
        pv_cost=draw(MONEY),
        network_cost=draw(MONEY),
        load_balancer_cost=draw(MONEY),
        shared_cost=draw(MONEY),
        external_cost=draw(MONEY),
        total_cost=draw(MONEY),
        cost=cost,
        idle_share=draw(MONEY),
        minutes=draw(st.sampled_from((60.0, 59.5, 1.0, 0.0))),
        cpu_core_hours=draw(USAGE),
        cpu_core_request_average=draw(CORES),
        cpu_core_usage_average=draw(CORES),
        ram_byte_hours=draw(USAGE),
        ram_byte_request_average=draw(USAGE),
        ram_byte_usage_average=draw(USAGE),
        gpu_request_average=draw(CORES),
        gpu_usage_average=draw(CORES),
        produced_at=produced_at,
    )


@st.composite
def poison_messages(draw: st.DrawFn, valid: list[AllocationEvent]) -> Poison:
    """A message the aggregator must refuse, often disguised as a newer version of a real key."""
    base = draw(st.sampled_from(valid))
    newer = base.produced_at + timedelta(days=1)
    key = cluster_key(base)
    shape = draw(
        st.sampled_from(("bytes", "version", "version-unknown-shape", "negative", "future"))
    )
    if shape == "bytes":
        # 0xff never starts UTF-8, let alone JSON.
        return Poison(Record(key, b"\xff" + draw(st.binary(max_size=40))), "undecodable")
    if shape == "version":
        event = msgspec.structs.replace(base, schema_version=2, produced_at=newer)
        return Poison(Record(key, encode_event(event)), "schema_version")
    if shape == "version-unknown-shape":
        payload = msgspec.json.encode({"schema_version": 99, "allocation": {"name": base.name}})
        return Poison(Record(key, payload), "schema_version")
    if shape == "negative":
        event = msgspec.structs.replace(
            base,
            kind=AllocationKind.WORKLOAD,
            cost=-draw(st.integers(min_value=1, max_value=10**9)),
            produced_at=newer,
        )
        return Poison(Record(key, encode_event(event)), "negative cost")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
        days=draw(st.integers(min_value=1, max_value=400))
    )
    event = msgspec.structs.replace(
        base, window_start=start, window_end=start + timedelta(hours=1), produced_at=newer
    )
    return Poison(Record(key, encode_event(event)), "future")


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(CLUSTERS),
                st.sampled_from(NAMES),
                st.integers(min_value=0, max_value=WINDOW_HOURS),
            ),
            min_size=1,
            max_size=10,
            unique=True,
        )
    )
    valid: list[AllocationEvent] = []
    for key in keys:
        # Distinct produced_at per key: a tie would leave "the newest version" undefined.
        stamps = draw(
            st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=3, unique=True)
        )
        valid.extend(
            draw(versions(key, PRODUCED_BASE + timedelta(microseconds=stamp))) for stamp in stamps
        )
    replays = draw(st.lists(st.sampled_from(valid), max_size=6))
    poison = draw(st.lists(poison_messages(valid), max_size=4))
    items = draw(st.permutations([*valid, *replays, *poison]))
    return Stream(
        items=tuple(items),
        batch_max_events=draw(st.integers(min_value=1, max_value=12)),
        restart_at=draw(st.integers(min_value=0, max_value=len(items))),
    )


def _record(item: AllocationEvent | Poison) -> Record:
    if isinstance(item, Poison):
        return item.record
    return Record(cluster_key(item), encode_event(item))


async def _feed(stream: Stream, kafka: KafkaSettings, database_url: str) -> int:
    """Produce the stream in two parts with an aggregator restart between them; returns the
    number of events the aggregator reported as written."""
    aggregator_settings = AggregatorSettings(
        batch_max_events=stream.batch_max_events, batch_max_ms=20, retry_backoff_seconds=0.2
    )
    records = [_record(i) for i in stream.items]
    await ensure_topics(kafka)  # before producing: the broker would auto-create one partition
    written = 0
    for part in (records[: stream.restart_at], records[stream.restart_at :]):
        await produce(kafka.bootstrap, kafka.allocations_topic, part)
        stats = await run_until_caught_up(kafka, aggregator_settings, database_url, wait_seconds=30)
        written += stats.events
    return written


async def _assert_dead_letters(stream: Stream, kafka: KafkaSettings) -> None:
    ends = await end_offsets(kafka.bootstrap, kafka.dead_letter_topic, kafka.partitions)
    assert total(ends) == len(stream.poison), "dead-letter topic holds a different count"
    found = await read_topic(kafka.bootstrap, kafka.dead_letter_topic, total(ends))
    assert Counter(value for value, _ in found) == Counter(p.record.value for p in stream.poison)
    reasons: dict[bytes | None, list[str]] = {}
    for value, headers in found:
        assert headers["source_topic"] == kafka.allocations_topic.encode()
        reasons.setdefault(value, []).append(headers["reason"].decode())
    for poison in stream.poison:
        assert any(poison.reason in r for r in reasons[poison.record.value]), (
            f"expected a reason with {poison.reason!r}, got {reasons[poison.record.value]}"
        )


def check_stream(stream: Stream, services: Services, database_url: str) -> None:
    kafka = run_scoped_kafka(services.kafka_bootstrap, "prop", PARTITIONS)
    written = asyncio.run(_feed(stream, kafka, database_url))
    assert written == len(stream.events)
    rows = assert_database_matches(database_url, stream.events)
    assert rows == len({(e.cluster_id, e.name, e.window_start) for e in stream.events})
    asyncio.run(_assert_dead_letters(stream, kafka))


PROPERTY_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    database=None,
    # No shrinking: each example runs real services for seconds, and a failure already prints
    # the whole stream that failed.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@PROPERTY_SETTINGS
@given(stream=streams())
def test_managed_rollups_count_every_event_exactly_once(
    stream: Stream, services: Services, database_url: str
) -> None:
    truncate_pipeline_tables(database_url)
    check_stream(stream, services, database_url)


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture
def continuous_server(services: Services) -> str:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        license_name = detect_license(conn)  # the setting exists once the extension is loaded
    if license_name != "timescale":
        pytest.skip(
            "continuous aggregates need TimescaleDB with the Timescale license; this server's "
            f"timescaledb.license is {license_name!r} (the Apache build runs the managed mode)"
        )
    return services.database_url


@pytest.fixture
def continuous_database(continuous_server: str) -> Iterator[str]:
    name = "costpipe_cagg_" + uuid.uuid4().hex[:12]
    with psycopg.connect(continuous_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _database(continuous_server, name)
        migrate(url, "continuous")
        yield url
    finally:
        with psycopg.connect(continuous_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@PROPERTY_SETTINGS
@given(stream=streams())
def test_continuous_rollups_count_every_event_exactly_once(
    stream: Stream, services: Services, continuous_database: str
) -> None:
    # Continuous aggregates cannot be truncated like tables; empty the source and refresh them.
    with psycopg.connect(continuous_database, autocommit=True) as conn:
        conn.execute("TRUNCATE allocation, workload, cluster, organization CASCADE")
        for view in ROLLUP_TABLES:
            conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (view,))
    check_stream(stream, services, continuous_database)


def test_an_older_version_after_a_newer_one_changes_nothing(
    services: Services, database_url: str
) -> None:
    """The case the property exists for, spelled out: the restated version is consumed first, in
    its own batch, and the original arrives later and must not overwrite it."""
    window_start = FIRST_WINDOW + timedelta(hours=5)
    first = AllocationEvent(
        schema_version=ALLOCATION_SCHEMA_VERSION,
        event_id=allocation_event_id(CLUSTERS[0], window_start, "api/web-1"),
        organization_id=ORGANIZATION_OF[CLUSTERS[0]],
        cluster_id=CLUSTERS[0],
        cluster_name="cluster-0",
        window_start=window_start,
        window_end=window_start + timedelta(hours=1),
        name="api/web-1",
        namespace="api",
        node_group="general",
        workload_uid=WORKLOADS[1],
        cpu_cost=700_000,
        ram_cost=300_000,
        total_cost=1_000_000,
        cost=1_000_000,
        produced_at=PRODUCED_BASE,
    )
    newer = msgspec.structs.replace(
        first,
        produced_at=PRODUCED_BASE + timedelta(hours=1),
        node_group="restated-group",
        namespace="restated-namespace",
        cost=first.cost + 1,
    )
    stream = Stream(items=(newer, first, first), batch_max_events=1, restart_at=2)
    check_stream(stream, services, database_url)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT node_group, cost FROM allocation").fetchone()
    assert row == ("restated-group", first.cost + 1)
