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
        futures = [
            await self._producer.send(self.topic, encode_event(event), key=event.cluster_id.bytes)
            for event in events
        ]
        if futures:
            await asyncio.gather(*futures)
