"""The aggregator loop: getmany -> validate -> one transaction -> dead letters -> commit offsets.

Offsets are committed only after the database commit (at-least-once) and writes are idempotent,
so each event is counted exactly once. When the database is unavailable the batch's partitions are
rewound to the batch start and retried after a backoff: the consumer keeps polling (so it stays in
its group) but nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord
from psycopg_pool import PoolTimeout

from services.aggregator.validation import EventValidator, InvalidEvent
from services.aggregator.writer import BatchWriter
from shared import metrics
from shared.db.pool import Pool
from shared.events import AllocationEvent
from shared.settings import AggregatorSettings, KafkaSettings

log = logging.getLogger(__name__)

Records = Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


@dataclass
class AggregatorStats:
    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    write_retries: int = 0
    committed: dict[TopicPartition, int] = field(default_factory=dict)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Waits for the batch in flight, so a revoked partition's work is committed before it moves."""

    def __init__(
        self, lock: asyncio.Lock, on_assigned: Callable[[list[TopicPartition]], Awaitable[None]]
    ) -> None:
        self._lock = lock
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted((tp.topic, tp.partition) for tp in assigned))
        await self._on_assigned(assigned)


class Aggregator:
    def __init__(
        self,
        kafka: KafkaSettings,
        settings: AggregatorSettings,
        pool: Pool,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.topic = kafka.allocations_topic
        self.dead_letter_topic = kafka.dead_letter_topic
        self.stats = AggregatorStats()
        self._lock = asyncio.Lock()
        self._lag_checked = 0.0
        self._validator = EventValidator()
        self._writer = BatchWriter()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap,
            group_id=kafka.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._bootstrap = kafka.bootstrap
        self._dlq = self._dead_letter_producer()
        self._dlq_started = False

    def _dead_letter_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True
        )

    async def start(self) -> None:
        await self._dlq.start()
        self._dlq_started = True
        await self._consumer.start()
        self._consumer.subscribe(
            [self.topic], listener=_CommitOnRevoke(self._lock, self._learn_committed)
        )
        metrics.ROLLUP_MODE.labels("managed").set(1)

    async def _learn_committed(self, assigned: list[TopicPartition]) -> None:
        """The group's committed offsets of newly owned partitions, so lag is reported from the
        first poll, before this instance has committed anything itself."""
        for tp in assigned:
            committed = await self._consumer.committed(tp)
            self.stats.committed[tp] = committed if committed is not None else 0

    async def stop(self) -> None:
        try:
            await self._consumer.stop()
        finally:
            await self._dlq.stop()

    async def run(self, stop: asyncio.Event, idle_exit_seconds: float | None = None) -> None:
        """Consume until `stop` is set (drains the batch in flight), or after
        `idle_exit_seconds` without records when given (for one-shot runs)."""
        idle_since = time.monotonic()
        while not stop.is_set():
            records = await self._consumer.getmany(
                timeout_ms=self.settings.batch_max_ms, max_records=self.settings.batch_max_events
            )
            await self._report_lag()
            if not records:
                if not self._consumer.assignment():
                    idle_since = time.monotonic()  # idle only counts once we own partitions
                elif (
                    idle_exit_seconds is not None
                    and time.monotonic() - idle_since > idle_exit_seconds
                ):
                    return
                continue
            idle_since = time.monotonic()
            async with self._lock:
                await self._process(records, stop)

    async def _process(self, records: Records, stop: asyncio.Event) -> None:
        events: list[AllocationEvent] = []
        dead: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        now = datetime.now(UTC)
        for batch in records.values():
            for record in batch:
                try:
                    events.append(self._validator.parse(record.value, now))
                except InvalidEvent as exc:
                    dead.append((record, str(exc)))
        started = time.perf_counter()
        try:
            async with self.pool.connection() as conn:
                await self._writer.write(conn, events)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            metrics.AGGREGATOR_DB_RETRIES.inc()
            self.stats.write_retries += 1
            log.warning("database unavailable (%s); batch rewound and retried", exc)
            self._rewind(records)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.retry_backoff_seconds)
            return
        metrics.AGGREGATOR_WRITE_SECONDS.observe(time.perf_counter() - started)
        try:
            await self._dead_letter(dead)
        except KafkaError as exc:
            # The batch is in the database already: replaying it changes nothing there and sends
            # its dead letters again (the dead-letter topic is at-least-once, like the input).
            log.warning("dead-letter topic unavailable (%s); batch rewound and retried", exc)
            await self._replace_dead_letter_producer()
            self._rewind(records)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.retry_backoff_seconds)
            return
        offsets = {tp: batch[-1].offset + 1 for tp, batch in records.items() if batch}
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced under us: the new owner re-reads from the last commit, and the
            # idempotent writes make that replay harmless.
            log.warning("offset commit refused after a rebalance; records will be replayed")
            return
        except KafkaError as exc:
            # The batch is written; a later commit covers its offsets, or a restart replays it.
            log.warning("offset commit failed (%s); a later commit will cover it", exc)
            return
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.committed.update(offsets)
        metrics.AGGREGATOR_EVENTS.inc(len(events))
        metrics.AGGREGATOR_BATCH_SIZE.observe(len(events) + len(dead))
        for tp, offset in offsets.items():
            metrics.AGGREGATOR_COMMITTED.labels(tp.topic, str(tp.partition)).set(offset)
        log.debug("batch of %d events committed: %s", len(events), offsets)

    async def _report_lag(self) -> None:
        """Lag per owned partition: the partition's end offset minus what the group committed.

        End offsets are asked of the broker (ListOffsets) at most every `lag_refresh_seconds`, not read
        from fetch responses, whose high watermark brokers and emulators report differently.
        """
        now = time.monotonic()
        assigned = list(self._consumer.assignment())
        if not assigned or now - self._lag_checked < self.settings.lag_refresh_seconds:
            return
        self._lag_checked = now
        try:
            ends = await self._consumer.end_offsets(assigned)
        except KafkaError as exc:
            log.warning("could not read end offsets for lag: %s", exc)
            return
        for tp, end in ends.items():
            committed = self.stats.committed.get(tp)
            if committed is not None:
                lag = max(0, end - committed)
                metrics.AGGREGATOR_LAG.labels(tp.topic, str(tp.partition)).set(lag)

    def _rewind(self, records: Records) -> None:
        for tp, batch in records.items():
            if batch:
                self._consumer.seek(tp, batch[0].offset)

    async def _replace_dead_letter_producer(self) -> None:
        """A new producer, with a new producer id: an idempotent producer whose sequence state
        the broker lost (a broker restart can do that) fails every later send."""
        old, self._dlq = self._dlq, self._dead_letter_producer()
        self._dlq_started = False
        with contextlib.suppress(KafkaError):
            await old.stop()

    async def _dead_letter(self, dead: list[tuple[ConsumerRecord[bytes, bytes], str]]) -> None:
        if dead and not self._dlq_started:
            await self._dlq.start()
            self._dlq_started = True
        futures = []
        for record, reason in dead:
            log.warning(
                "dead letter %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
            )
            headers = [
                ("reason", reason.encode()),
                ("source_topic", record.topic.encode()),
                ("source_partition", str(record.partition).encode()),
                ("source_offset", str(record.offset).encode()),
            ]
            futures.append(
                await self._dlq.send(
                    self.dead_letter_topic, record.value, key=record.key, headers=headers
                )
            )
        if futures:
            await asyncio.gather(*futures)
        self.stats.dead_letters += len(dead)
        for _, reason in dead:
            metrics.AGGREGATOR_DEAD_LETTERS.labels(reason.split(":", 1)[0][:40]).inc()
