"""The aggregator's consumer lag, as the API sees it from Kafka: high watermark minus the
consumer group's committed offset, per partition of the allocations topic.

Asking Kafka costs a connection and two round trips, so the answer is kept for a few seconds.
When no broker is configured or it does not answer, lag is reported as unavailable (the data
health report must still answer during a broker outage; that is when it matters most).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.settings import KafkaSettings

_CACHE_SECONDS = 10.0
_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    end_offset: int
    committed_offset: int | None

    @property
    def lag(self) -> int:
        return self.end_offset - (self.committed_offset or 0)


@dataclass(frozen=True)
class LagReport:
    status: str
    partitions: tuple[PartitionLag, ...] = ()
    reason: str | None = None

    @property
    def total(self) -> int | None:
        if self.status != "ok":
            return None
        return sum(p.lag for p in self.partitions)


class LagReader:
    def __init__(self, kafka: KafkaSettings | None) -> None:
        self._kafka = kafka
        self._cached: tuple[float, LagReport] | None = None
        self._lock = asyncio.Lock()

    async def read(self) -> LagReport:
        if self._kafka is None:
            return LagReport("unavailable", reason="no Kafka bootstrap configured for the API")
        async with self._lock:
            if self._cached is not None and self._cached[0] > time.monotonic():
                return self._cached[1]
            try:
                async with asyncio.timeout(_TIMEOUT_SECONDS):
                    report = await self._ask(self._kafka)
            except (KafkaError, OSError, TimeoutError) as exc:
                report = LagReport("unavailable", reason=f"Kafka: {type(exc).__name__}")
            self._cached = (time.monotonic() + _CACHE_SECONDS, report)
            return report

    @staticmethod
    async def _ask(kafka: KafkaSettings) -> LagReport:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            # Made only once the admin client is up: a consumer that is made and never started
            # or stopped is reported unclosed when it is collected.
            consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
            try:
                await consumer.start()
            except BaseException:
                # A consumer whose start failed (the broker away) still holds its client and
                # tasks: closed here, or every refresh during an outage would leak one.
                await consumer.stop()
                raise
            try:
                partitions = consumer.partitions_for_topic(kafka.allocations_topic)
                if partitions is None:
                    await consumer.topics()
                    partitions = consumer.partitions_for_topic(kafka.allocations_topic)
                if not partitions:
                    return LagReport("ok")
                tps = [TopicPartition(kafka.allocations_topic, p) for p in sorted(partitions)]
                ends = await consumer.end_offsets(tps)
                committed = await admin.list_consumer_group_offsets(
                    kafka.consumer_group, partitions=tps
                )
            finally:
                await consumer.stop()
        finally:
            await admin.close()
        rows = []
        for tp in tps:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else None
            rows.append(PartitionLag(tp.partition, ends[tp], offset))
        return LagReport("ok", tuple(rows))
