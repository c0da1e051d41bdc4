"""The collector in-process against this test's real database and Kafka topics, and ways to look
at what it left behind: the events on the topic, watermarks, gaps, and the aggregator's rollups.

In-process (rather than `costpipe collector` as a subprocess) so a test can pin the clock, read
the per-cluster stats, and run several cycles against one source in a few seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.aggregator.consumer import Aggregator
from services.collector.config import CollectorConfig, parse_config
from services.collector.producer import EventProducer
from services.collector.runner import Collector
from services.collector.state import CollectorState
from shared.db.pool import Pool, make_pool
from shared.events import AllocationDecoder, AllocationEvent
from shared.kafka import ensure_topics
from shared.progress import NoProgress, Progress
from shared.settings import AggregatorSettings, DatabaseSettings, KafkaSettings

# Fast failure handling: tests wait for retries, not for production-sized backoffs.
FAST_DEFAULTS: dict[str, Any] = {
    "backfill_days": 1,
    "restatement_hours": 6,
    "chunk_hours": 6,
    "max_attempts": 3,
    "retry_base_delay_seconds": 0.01,
    "retry_max_delay_seconds": 0.05,
    "request_timeout_seconds": 5.0,
}


def collector_config(clusters: list[dict[str, Any]], **defaults: Any) -> CollectorConfig:
    return parse_config({"defaults": {**FAST_DEFAULTS, **defaults}, "clusters": clusters})


def hours(start: datetime, end: datetime) -> list[datetime]:
    out, cursor = [], start
    while cursor < end:
        out.append(cursor)
        cursor += timedelta(hours=1)
    return out


@dataclass
class Harness:
    kafka: KafkaSettings
    pool: Pool
    producer: EventProducer
    state: CollectorState

    def collector(
        self, config: CollectorConfig, now: datetime, progress: Progress | None = None
    ) -> Collector:
        """A fresh collector, as after a process restart: all it knows is in the database."""
        return Collector(
            config, self.producer, self.state, clock=lambda: now, progress=progress or NoProgress()
        )

    async def events(self) -> list[AllocationEvent]:
        return await read_events(self.kafka)

    async def watermarks(self) -> dict[uuid.UUID, datetime]:
        rows = await self.fetch("SELECT cluster_id, watermark FROM collector_watermark")
        return {row[0]: row[1] for row in rows}

    async def gaps(self) -> list[tuple[Any, ...]]:
        return await self.fetch(
            "SELECT cluster_id, window_start, window_end, reason, attempts, resolved_at"
            " FROM collector_gap ORDER BY cluster_id, window_start, id"
        )

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

    async def aggregate(self, idle_seconds: float = 1.0) -> None:
        """Run the real aggregator until it has had nothing to do for `idle_seconds`."""
        aggregator = Aggregator(self.kafka, AggregatorSettings(batch_max_ms=100), self.pool)
        await aggregator.start()
        try:
            await asyncio.wait_for(
                aggregator.run(asyncio.Event(), idle_exit_seconds=idle_seconds), timeout=60
            )
        finally:
            await aggregator.stop()


@asynccontextmanager
async def collector_harness(env: Mapping[str, str]) -> AsyncIterator[Harness]:
    kafka = KafkaSettings.from_env(env)
    await ensure_topics(kafka)
    producer = EventProducer(kafka)
    await producer.start()
    try:
        async with make_pool(DatabaseSettings.from_env(env), "collector-test") as pool:
            yield Harness(kafka, pool, producer, CollectorState(pool))
    finally:
        await producer.stop()


async def read_events(kafka: KafkaSettings) -> list[AllocationEvent]:
    """Every event on the allocations topic, in partition order (so per cluster, in send order)."""
    decoder = AllocationDecoder()
    return [
        decoder.decode(r.value) for r in await read_topic(kafka.bootstrap, kafka.allocations_topic)
    ]


async def read_topic(
    bootstrap: str, topic: str, *, wait_seconds: float | None = 30, max_records: int | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `topic` up to its end offsets as they stand now, each partition's in
    order; `wait_seconds` None waits as long as that takes."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(wait_seconds):
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                batches = await consumer.getmany(timeout_ms=200, max_records=max_records)
                for tp in tps:
                    records.extend(batches.get(tp, []))
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # refreshes metadata
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise AssertionError(f"topic {topic} has no partitions")
    return set(partitions)


def latest(events: Iterable[AllocationEvent]) -> dict[uuid.UUID, AllocationEvent]:
    """One event per id: the newest, as the aggregator keeps it."""
    out: dict[uuid.UUID, AllocationEvent] = {}
    for event in events:
        current = out.get(event.event_id)
        if current is None or event.produced_at >= current.produced_at:
            out[event.event_id] = event
    return out


def of_cluster(events: Iterable[AllocationEvent], cluster_id: uuid.UUID) -> list[AllocationEvent]:
    return [e for e in events if e.cluster_id == cluster_id]


def by_window(events: Iterable[AllocationEvent]) -> dict[datetime, list[AllocationEvent]]:
    out: dict[datetime, list[AllocationEvent]] = {}
    for event in events:
        out.setdefault(event.window_start, []).append(event)
    return out
