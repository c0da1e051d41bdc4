"""Producing allocation and asset cost events: acks=all, idempotent, in batches built here.

Every event of a chunk is encoded once and appended to an aiokafka `BatchBuilder` of its
partition (the partition the producer's own partitioner gives its key, so a cluster's events stay
on the partition a plain `send` would use), and the full batches are handed over with
`send_batch`: one future per batch instead of one per event, and no linger for a batch that is
already full. Per event, `send` costs a future, a partitioner call and an await, about as much
as decoding and mapping the event (docs/benchmarks.md, collector throughput).

`submit_chunk` returns once the batches are handed over, in order, with an `Acknowledgement` to
await; `send_chunk` and `send_all` return only when every event is acknowledged. Either way the
watermark may move only after the acknowledgement, which is what makes restarts safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from shared.asset_events import AssetCostEvent, encode_asset_event
from shared.events import AllocationEvent, encode_event
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

CLOSE_SECONDS = 2.5
_IDEMPOTENCE_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)
Record = tuple[bytes, bytes]  # key, value
# aiokafka's default, stated so that the batches built here refuse what its `send` refuses.
MAX_REQUEST_SIZE = 1024 * 1024
_CHECK_FROM = MAX_REQUEST_SIZE - 4096  # smaller events cannot reach the limit with their headers


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    """The collector's producer settings (the benchmarks reuse them for their baselines)."""
    # lz4: allocation events are repetitive JSON (about 1 KiB each, 6x smaller compressed), so
    # brokers store and serve a sixth of the bytes; decompressing costs the aggregator about
    # 0.3 us per event. Measured in docs/benchmarks.md (aggregator throughput).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
        max_request_size=MAX_REQUEST_SIZE,
        compression_type="lz4",
    )


# `new_producer` keeps aiokafka's default partitioner; the batches built here must land where it
# would put each key, or a restated hour would reach another partition than its first version.
_partitioner = DefaultPartitioner()


class EventProducer:
    def __init__(self, settings: KafkaSettings) -> None:
        self.topic = settings.allocations_topic
        self.assets_topic = settings.assets_topic
        self._bootstrap = settings.bootstrap
        self._producer = self._new_producer()
        self._replacing = asyncio.Lock()

    def _new_producer(self) -> AIOKafkaProducer:
        return new_producer(self._bootstrap)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and close, for at most `CLOSE_SECONDS`: a broker that does not answer must not
        hold up a shutdown (unacknowledged events moved no watermark: they are fetched again)."""
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self._producer.stop()
        except TimeoutError:
            log.warning("stopping: the producer did not close within %ss", CLOSE_SECONDS)

    async def _start_over(self, failed: AIOKafkaProducer, error: Exception) -> None:
        """Replace a producer whose idempotence state the broker no longer accepts.

        A broker restart can lose the producer's sequence state; from then on every send fails
        with an out-of-order sequence (or unknown producer id) error, and only a new producer id
        gets out of it. Clusters share the producer, so several may see the same failure: only
        the first replaces it, the new one is started before it is handed out, and the old one
        is flushed and closed. The chunk itself is sent again by the caller (its watermark did
        not move).
        """
        async with self._replacing:
            if failed is not self._producer:
                return  # another cluster already replaced it
            log.warning(
                "Kafka refused the producer's sequence (%r); starting a new producer", error
            )
            fresh = self._new_producer()
            await fresh.start()
            self._producer = fresh
        with contextlib.suppress(Exception):
            await failed.stop()

    async def send_all(self, events: Sequence[AllocationEvent]) -> None:
        """Send allocation events and wait for every acknowledgement."""
        await self.send_chunk(events, ())

    async def send_chunk(
        self, events: Sequence[AllocationEvent], assets: Sequence[AssetCostEvent]
    ) -> None:
        """Send one chunk's events to both topics; return once all are acknowledged, raise if any
        was not."""
        acknowledgement = await self.submit_chunk(events, assets)
        await acknowledgement.wait()

    async def submit_chunk(
        self, events: Sequence[AllocationEvent], assets: Sequence[AssetCostEvent]
    ) -> Acknowledgement:
        """Hand one chunk's events to the producer, both topics together, each partition's in
        order; return when all are handed over (not acknowledged). A caller that submits chunks
        one after the other therefore keeps them in order per key.

        When a hand-over fails part-way, the batches already handed over are still awaited
        before the error propagates, so no delivery is left running unobserved.
        """
        producer = self._producer
        allocations = list(zip(_keys(events), map(encode_event, events), strict=True))
        asset_records = list(zip(_keys(assets), map(encode_asset_event, assets), strict=True))
        _check_sizes(allocations)
        _check_sizes(asset_records)
        handed: list[asyncio.Future[object]] = []
        outcomes = await asyncio.gather(
            _hand_over(producer, self.topic, allocations, handed),
            _hand_over(producer, self.assets_topic, asset_records, handed),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            await asyncio.gather(*handed, return_exceptions=True)
            if isinstance(failures[0], _IDEMPOTENCE_LOST):
                await self._start_over(producer, failures[0])
            raise failures[0]
        return Acknowledgement(self, producer, handed)


class Acknowledgement:
    """The batches of one submitted chunk; `wait` returns once the broker acknowledged them all
    (acks=all) and raises if any was refused."""

    def __init__(
        self,
        owner: EventProducer,
        producer: AIOKafkaProducer,
        batches: list[asyncio.Future[object]],
    ) -> None:
        self._owner = owner
        self._producer = producer
        self._batches = batches

    async def wait(self) -> None:
        results = await asyncio.gather(*self._batches, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, _IDEMPOTENCE_LOST):
                    await self._owner._start_over(self._producer, result)
                raise result


def _check_sizes(records: Sequence[Record]) -> None:
    """Refuse a chunk with an event over the request size before any of it is handed over, as
    `send` would refuse that event (the batches are compressed, so the broker might not)."""
    for key, value in records:
        if len(value) + len(key) > _CHECK_FROM and (
            DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, []) > MAX_REQUEST_SIZE
        ):
            raise MessageSizeTooLargeError(f"an event of {len(value)} bytes is over the limit")


def _keys(events: Sequence[AllocationEvent] | Sequence[AssetCostEvent]) -> list[bytes]:
    """Each event's key, its cluster id; a chunk is one cluster, so the bytes are made once."""
    keys: list[bytes] = []
    last_id: uuid.UUID | None = None
    key = b""
    for event in events:
        if event.cluster_id is not last_id:
            last_id = event.cluster_id
            key = last_id.bytes
        keys.append(key)
    return keys


async def _hand_over(
    producer: AIOKafkaProducer,
    topic: str,
    records: Sequence[Record],
    handed: list[asyncio.Future[object]],
) -> None:
    """Append `records` to batches of their key's partition, in order, and hand each batch over
    (`send_batch`) as soon as it is full, so the broker receives them while the rest is built."""
    if not records:
        return
    partitions = sorted(await producer.partitions_for(topic))
    by_partition: dict[int, list[Record]] = {}
    partition_of: dict[bytes, int] = {}
    for record in records:
        key = record[0]
        partition = partition_of.get(key)
        if partition is None:
            partition = partition_of[key] = _partitioner(key, partitions, partitions)
        by_partition.setdefault(partition, []).append(record)
    for partition, partition_records in by_partition.items():
        for batch in _batches(producer, partition_records):
            # one at a time: each is recorded as soon as it is handed over, for the failure path
            handed.append(await producer.send_batch(batch, topic, partition=partition))  # noqa: PERF401


def _batches(producer: AIOKafkaProducer, records: Iterable[Record]) -> Iterable[object]:
    """Closed batches (a closed batch is sent without lingering) of at most the producer's batch
    size each."""
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:
            yield batch  # full, and closed by the refused append
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise MessageSizeTooLargeError(f"an event of {len(value)} bytes fits no batch")
    if batch.record_count():
        batch.close()
        yield batch
