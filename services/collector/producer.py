"""Producing allocation and asset cost events: batched by aiokafka (linger), acks=all, idempotent.

`send_all` and `send_chunk` return only when every event is acknowledged, which is what lets the
collector move its watermark safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)

from shared.asset_events import AssetCostEvent, encode_asset_event
from shared.events import AllocationEvent, encode_event
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

CLOSE_SECONDS = 2.5


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
        compression_type="lz4",
    )


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
        was not. Both topics are in flight together, so the second adds no round trip.

        When a send fails part-way, the events already handed over are still awaited before the
        error propagates, so no delivery is left running unobserved behind the caller's back.
        """
        producer = self._producer
        try:
            await self._send(producer, events, assets)
        except (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch) as exc:
            await self._start_over(producer, exc)
            raise

    async def _send(
        self,
        producer: AIOKafkaProducer,
        events: Sequence[AllocationEvent],
        assets: Sequence[AssetCostEvent],
    ) -> None:
        futures: list[asyncio.Future[object]] = []
        try:
            for event in events:
                future = await producer.send(
                    self.topic, encode_event(event), key=event.cluster_id.bytes
                )
                futures.append(future)
            for asset in assets:
                future = await producer.send(
                    self.assets_topic, encode_asset_event(asset), key=asset.cluster_id.bytes
                )
                futures.append(future)
        except BaseException:
            await asyncio.gather(*futures, return_exceptions=True)
            raise
        if futures:
            await asyncio.gather(*futures)
