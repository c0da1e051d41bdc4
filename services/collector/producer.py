"""Producing allocation events: batched by aiokafka (linger), acks=all, idempotent.

`send_all` returns only when every event is acknowledged, which is what lets the collector move
its watermark safely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from shared.events import AllocationEvent, encode_event
from shared.settings import KafkaSettings


class EventProducer:
    def __init__(self, settings: KafkaSettings) -> None:
        self.topic = settings.allocations_topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            max_batch_size=256 * 1024,
            compression_type=None,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, events: Sequence[AllocationEvent]) -> None:
        """Send and wait for every acknowledgement; raise if any event was not acknowledged.

        When a send fails part-way, the events already handed over are still awaited before the
        error propagates, so no delivery is left running unobserved behind the caller's back.
        """
        futures: list[asyncio.Future[object]] = []
        try:
            for event in events:
                future = await self._producer.send(
                    self.topic, encode_event(event), key=event.cluster_id.bytes
                )
                futures.append(future)
        except BaseException:
            await asyncio.gather(*futures, return_exceptions=True)
            raise
        if futures:
            await asyncio.gather(*futures)
