"""The pipelined follow (fetch the next chunk while the previous are acknowledged) keeps the
watermark rule: it never moves past a chunk whose events are not all acknowledged, even when a
later chunk is acknowledged first, and never past a chunk the broker refused.

Everything is real: the simulator over HTTP, the broker, the database. The only thing the test
holds is the collector's view of each chunk's acknowledgement (`GatedProducer`): the events are
produced and acknowledged by the broker as usual, and the collector learns of it only when the
test opens that chunk's gate, in an order of the test's choosing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from services.collector.producer import Acknowledgement, EventProducer, new_producer
from services.kubecost_sim.model import SimConfig, ground_truth_total
from services.kubecost_sim.server import serve_in_thread
from shared.asset_events import AssetCostEvent
from shared.events import AllocationEvent
from shared.settings import KafkaSettings
from shared.timewindows import floor_hour
from tests.support.collector_harness import (
    Harness,
    by_window,
    collector_config,
    collector_harness,
    latest,
    of_cluster,
    read_topic,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
TARGET = floor_hour(NOW)
START = TARGET - timedelta(hours=24)
CHUNK = timedelta(hours=6)
CHUNKS = [START + i * CHUNK for i in range(4)]  # four six-hour chunks, followed in order
SIM = SimConfig(seed=7, clusters=1, workloads_per_cluster=3, now=NOW)


class _Gated:
    """A chunk's acknowledgement as the collector sees it: the broker's, then the test's gate."""

    def __init__(self, inner: Acknowledgement, gate: asyncio.Event) -> None:
        self._inner = inner
        self._gate = gate

    async def wait(self) -> None:
        await self._inner.wait()
        await self._gate.wait()


class GatedProducer(EventProducer):
    """The real producer; each chunk's acknowledgement is held until the test opens its gate."""

    def __init__(self, settings: KafkaSettings) -> None:
        super().__init__(settings)
        self.gates = {start: asyncio.Event() for start in CHUNKS}
        self.submitted: list[datetime] = []
        self.changed = asyncio.Event()

    async def submit_chunk(  # type: ignore[override]
        self, events: Sequence[AllocationEvent], assets: Sequence[AssetCostEvent]
    ) -> _Gated:
        acknowledgement = await super().submit_chunk(events, assets)
        start = min(e.window_start for e in events)
        self.submitted.append(start)
        self.changed.set()
        return _Gated(acknowledgement, self.gates[start])


async def _until(producer: GatedProducer, submitted: int) -> None:
    async with asyncio.timeout(30):
        while len(producer.submitted) < submitted:
            producer.changed.clear()
            await producer.changed.wait()


async def _settled(harness: Harness, expected: datetime | None) -> datetime | None:
    """The cluster's watermark once the collector had time to (wrongly) move it further."""
    await asyncio.sleep(0.3)
    (watermark,) = (await harness.watermarks()).values() or (None,)
    assert watermark == expected
    return watermark


async def test_the_watermark_never_passes_an_unacknowledged_chunk(
    pipeline_env: dict[str, str],
) -> None:
    with serve_in_thread(SIM) as sim_url:
        config = collector_config(
            [{"name": "pipelined", "base_url": f"{sim_url}/clusters/0"}],
            chunk_hours=6,
            restatement_hours=0,
        )
        async with collector_harness(pipeline_env) as harness:
            producer = GatedProducer(harness.kafka)
            await producer.start()
            try:
                harness.producer = producer
                collector = harness.collector(config, NOW)
                running = asyncio.create_task(collector.run(once=True))
                # Every later chunk is fetched and handed over while chunk 0's acknowledgement
                # is held: the pipeline went ahead, and the watermark has not moved at all.
                await _until(producer, len(CHUNKS))
                assert producer.submitted == CHUNKS
                await _settled(harness, None)
                # Chunk 1 acknowledged before chunk 0: still nothing may move.
                producer.gates[CHUNKS[1]].set()
                await _settled(harness, None)
                # Chunk 0 acknowledged: the watermark moves over both, not further (2 is held).
                producer.gates[CHUNKS[0]].set()
                await _settled(harness, CHUNKS[2])
                producer.gates[CHUNKS[3]].set()
                await _settled(harness, CHUNKS[2])
                producer.gates[CHUNKS[2]].set()
                await asyncio.wait_for(running, timeout=30)
            finally:
                await producer.stop()
            assert (await harness.watermarks())[config.clusters[0].id] == TARGET
            events = of_cluster(await harness.events(), config.clusters[0].id)

    # Ordering per key is that of one chunk at a time: the topic holds the windows in order.
    starts = [e.window_start for e in events]
    assert starts == sorted(starts)
    assert sorted(by_window(events)) == [START + timedelta(hours=h) for h in range(24)]
    expected = ground_truth_total(SIM, 0, START, TARGET) * 1_000_000
    assert sum(e.total_cost for e in latest(events).values()) == expected


async def test_a_refused_chunk_stops_the_watermark_before_it(
    pipeline_env: dict[str, str],
) -> None:
    """The broker's producer refuses chunk 2 (its events are over the size limit): chunks 0 and
    1 are acknowledged and the watermark stops at the end of chunk 1, whatever was fetched
    after chunk 2; the next cycle starts from there."""

    class Refusing(EventProducer):
        async def submit_chunk(
            self, events: Sequence[AllocationEvent], assets: Sequence[AssetCostEvent]
        ) -> Acknowledgement:
            if min(e.window_start for e in events) == CHUNKS[2]:
                # A real event, too large for Kafka: the producer itself refuses it.
                events = [*events[:-1], _oversized(events[-1])]
            return await super().submit_chunk(events, assets)

    with serve_in_thread(SIM) as sim_url:
        config = collector_config(
            [{"name": "refused", "base_url": f"{sim_url}/clusters/0"}],
            chunk_hours=6,
            restatement_hours=0,
        )
        async with collector_harness(pipeline_env) as harness:
            producer = Refusing(harness.kafka)
            await producer.start()
            try:
                harness.producer = producer
                collector = harness.collector(config, NOW)
                await collector.run(once=True)
            finally:
                await producer.stop()
            cluster = config.clusters[0].id
            assert collector.stats[cluster].errors.get("kafka") == 1
            assert (await harness.watermarks())[cluster] == CHUNKS[2]
            events = of_cluster(await harness.events(), cluster)
    assert max(e.window_start for e in events) < CHUNKS[2]


def _oversized(event: AllocationEvent) -> AllocationEvent:
    return msgspec.structs.replace(event, controller="x" * 1_100_000)


async def test_batches_land_on_the_partition_a_plain_send_gives_their_key(
    pipeline_env: dict[str, str],
) -> None:
    """The collector builds its batches per partition itself; a cluster's events must still be
    where aiokafka's `send` puts that key, or a restated hour would reach another partition than
    its first version (and the aggregator's order per key would be lost)."""
    with serve_in_thread(SIM) as sim_url:
        config = collector_config(
            [{"name": f"c{i}", "base_url": f"{sim_url}/clusters/0"} for i in range(8)],
            chunk_hours=24,
            restatement_hours=0,
        )
        async with collector_harness(pipeline_env) as harness:
            await harness.collector(config, NOW).run(once=True)
            found = await _partitions_of_keys(
                harness.kafka.bootstrap, harness.kafka.allocations_topic
            )
            plain = new_producer(harness.kafka.bootstrap)
            await plain.start()
            try:
                expected = {}
                for cluster in config.clusters:
                    sent = await plain.send(
                        harness.kafka.allocations_topic, b"{}", key=cluster.id.bytes
                    )
                    expected[cluster.id.bytes] = (await sent).partition
            finally:
                await plain.stop()
    assert found == {key: {partition} for key, partition in expected.items()}


async def _partitions_of_keys(bootstrap: str, topic: str) -> dict[bytes, set[int]]:
    found: dict[bytes, set[int]] = {}
    for record in await read_topic(bootstrap, topic):
        assert record.key is not None
        found.setdefault(record.key, set()).add(record.partition)
    return found
