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
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeAlias

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord
from psycopg_pool import PoolTimeout

from services.aggregator.asset_writer import AssetBatchWriter
from services.aggregator.continuous import ContinuousRollups
from services.aggregator.membership import AssignmentWatch, OrphanWatch
from services.aggregator.memory import PeriodicCollection
from services.aggregator.resting import RestingPartitions
from services.aggregator.validation import AssetEventValidator, EventValidator, InvalidEvent
from services.aggregator.writer import BatchWriter, StoredKeys
from services.ops_server import Readiness
from services.runtime import unless_stopped
from shared import metrics
from shared.asset_events import AssetCostEvent
from shared.db.pool import Pool
from shared.events import AllocationEvent
from shared.logs import log_context
from shared.settings import AggregatorSettings, KafkaSettings

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Records = Mapping[TopicPartition, list[Record]]


@dataclass
class AggregatorStats:
    batches: int = 0
    events: int = 0
    asset_events: int = 0
    dead_letters: int = 0
    write_retries: int = 0
    commits: int = 0
    committed: dict[TopicPartition, int] = field(default_factory=dict)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Waits for the batch in flight, so a revoked partition's work is committed before it moves."""

    def __init__(
        self,
        lock: asyncio.Lock,
        on_revoked: Callable[[], Awaitable[object]],
        on_assigned: Callable[[list[TopicPartition]], Awaitable[None]],
    ) -> None:
        self._lock = lock
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))
            await self._on_revoked()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted((tp.topic, tp.partition) for tp in assigned))
        await self._on_assigned(assigned)


class _Outcome(Enum):
    """How a batch ended, which decides what happens to the batch fetched meanwhile."""

    WRITTEN = "written"  # in the database; its offsets are committed now or with a later batch
    REWOUND = "rewound"  # to be retried: the next batch goes too, its partitions rewound
    REFUSED = "refused"  # commit refused by a rebalance: the next batch is dropped


@dataclass
class _Batch:
    """Fetched records, decoded: the valid ones beside their events (one list per kind, the
    record at the same index as its event, kept in case the database refuses the event), the
    others with a reason."""

    records: Records
    events: list[AllocationEvent]
    event_records: list[Record]
    assets: list[AssetCostEvent]
    asset_records: list[Record]
    dead: list[tuple[Record, str]]

    def owned_by(self, owned: set[TopicPartition]) -> _Batch:
        """The part of the batch from partitions still `owned` (all of it, without a rebalance)."""
        if owned.issuperset(self.records):
            return self

        def kept(record: Record) -> bool:
            return TopicPartition(record.topic, record.partition) in owned

        events = [(r, e) for r, e in zip(self.event_records, self.events, strict=True) if kept(r)]
        assets = [(r, a) for r, a in zip(self.asset_records, self.assets, strict=True) if kept(r)]
        return _Batch(
            {tp: batch for tp, batch in self.records.items() if tp in owned},
            [e for _, e in events],
            [r for r, _ in events],
            [a for _, a in assets],
            [r for r, _ in assets],
            [d for d in self.dead if kept(d[0])],
        )


EMPTY = _Batch({}, [], [], [], [], [])
# Records decoded between two turns of the event loop while a batch is being written: the write
# waits at most this long for the loop (2-3 ms), less than the socket's buffer lasts the database
# while it ingests the copy.
DECODE_SLICE = 250
FETCH_SLICE = 5000
# How long stopping waits for each of: the batch in flight, the last commit, each client's close.
# A SIGTERM ends the process within 10 s whatever the broker and the database do.
CLOSE_SECONDS = 2.5


# How often the aggregator looks for partitions of its group that nobody consumes.
ORPHAN_CHECK_SECONDS = 15.0

# Objects of a written batch freed between two turns of the event loop (see `_release`).
RELEASE_SLICE = 2000


async def _release(batch: _Batch) -> None:
    """Free a written batch a slice at a time, between the next batch's steps. Dropped at once,
    a batch of 50,000 events takes 50-80 ms to free, time in which the database would wait for
    the next batch's first statement."""
    kinds: list[list[Any]] = [batch.events, batch.event_records, batch.assets, batch.asset_records]
    for items in (*kinds, *batch.records.values()):
        while items:
            del items[-RELEASE_SLICE:]
            await asyncio.sleep(0)


class Aggregator:
    def __init__(
        self,
        kafka: KafkaSettings,
        settings: AggregatorSettings,
        pool: Pool,
        instance_id: str | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.settings = settings
        self.instance_id = instance_id
        self.group = kafka.consumer_group
        self.pool = pool
        self.topic = kafka.allocations_topic
        self.assets_topic = kafka.assets_topic
        self.dead_letter_topic = kafka.dead_letter_topic
        self.stats = AggregatorStats()
        self._lock = asyncio.Lock()
        # Offsets of batches in the database whose commit waits for a later one (see
        # `_commit_due`), and when offsets were last committed.
        self._written: dict[TopicPartition, int] = {}
        self._committed_at = -math.inf
        self._lag_checked = 0.0
        # Work started beside the batches, never awaited by them: the lag report (a round trip to
        # the broker) and the freeing of written batches.
        self._beside: set[asyncio.Task[None]] = set()
        self._resting = RestingPartitions(settings.batch_max_ms / 1000)
        self._collection = PeriodicCollection()
        self._validator = EventValidator()
        self._writer = BatchWriter()
        self._asset_validator = AssetEventValidator()
        self._asset_writer = AssetBatchWriter()
        self._continuous: ContinuousRollups | None = None
        self._mode_known = False
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap,
            group_id=kafka.consumer_group,
            # A static member (see services/aggregator/membership.py): restarted with the same
            # id, it takes its partitions back at once instead of waiting for the broker to
            # evict its dead self.
            group_instance_id=instance_id,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=min(3000, settings.session_timeout_ms // 3),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._assignment_watch = AssignmentWatch(
            kafka.consumer_group,
            lambda: self.instance_id,
            settings.assignment_grace_seconds,
            readiness if readiness is not None else Readiness(),
        )
        self._orphans = OrphanWatch(
            kafka.consumer_group,
            settings.session_timeout_ms / 1000 + settings.assignment_grace_seconds,
        )
        self._orphans_checked = 0.0
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
            [self.topic, self.assets_topic],
            listener=_CommitOnRevoke(self._lock, self._commit_written, self._learn_committed),
        )

    async def detect_rollup_mode(self) -> None:
        """Read the database's rollup mode; before `run`, retried while the database is down."""
        self._continuous = await ContinuousRollups.detect(
            self.pool, self._writer, self._asset_writer
        )
        metrics.ROLLUP_MODE.labels("continuous" if self._continuous else "managed").set(1)
        self._mode_known = True

    async def _learn_committed(self, assigned: list[TopicPartition]) -> None:
        """The group's committed offsets of newly owned partitions, so lag is reported from the
        first poll, before this instance has committed anything itself."""
        for tp in assigned:
            committed = await self._consumer.committed(tp)
            self.stats.committed[tp] = committed if committed is not None else 0

    def assignment(self) -> set[TopicPartition]:
        """The partitions this instance owns in its group right now."""
        return set(self._consumer.assignment())

    def resting(self) -> set[TopicPartition]:
        """Owned partitions paused because they had been read to their end (see `resting`)."""
        return set(self._consumer.paused()) & self._resting.resting()

    async def stop(self) -> None:
        """Close the clients, each given `CLOSE_SECONDS`: a broker that does not answer must
        not hold up a shutdown (nothing is lost: what is not committed is read again)."""
        for name, client in (("consumer", self._consumer), ("dead-letter producer", self._dlq)):
            try:
                async with asyncio.timeout(CLOSE_SECONDS):
                    await client.stop()
            except TimeoutError:
                log.warning("stopping: the %s did not close within %ss", name, CLOSE_SECONDS)

    async def run(self, stop: asyncio.Event, idle_exit_seconds: float | None = None) -> None:
        """Consume until `stop` is set (drains the batch in flight), or after
        `idle_exit_seconds` without records when given (for one-shot runs).

        Batches are pipelined: while the database writes the current batch, the next one is
        fetched and decoded, in slices between the write's own steps (the copy's rows are
        formatted whenever the database has taken the previous ones), and the offsets written
        before are committed; the Python work, the database's and the broker's overlap instead
        of taking turns. Nothing of the next batch is written or committed before the current
        batch is, and it is dropped (and its partitions rewound) if the current batch is
        rewound."""
        if not self._mode_known:
            await self.detect_rollup_mode()
        idle_since = time.monotonic()
        commit_with_next = False
        batch = await self._parse(await self._next_batch())
        while not stop.is_set():
            self._assignment_watch.observe(len(self._consumer.assignment()))
            self._start_beside(self._report_lag())
            if time.monotonic() - self._orphans_checked >= ORPHAN_CHECK_SECONDS:
                self._orphans_checked = math.inf  # none other until this one is done
                self._start_beside(self._check_orphans())
            self._collection.collect_if_due()  # between batches: nothing of one is half done
            if not batch.records:
                commit_with_next = False
                await self._commit_pending()  # caught up: what is written is committed now
                if not self._consumer.assignment():
                    idle_since = time.monotonic()  # idle only counts once we own partitions
                elif (
                    idle_exit_seconds is not None
                    and time.monotonic() - idle_since > idle_exit_seconds
                ):
                    return
                batch = await self._parse(await self._next_batch())
                continue
            idle_since = time.monotonic()
            following = EMPTY
            async with self._lock:
                with log_context(batch_id=uuid.uuid4().hex[:16]):
                    writing = asyncio.create_task(self._process(batch, stop))
                    # The offsets written so far, committed while this batch is written: the
                    # group coordinator's answer takes a round trip (the local emulated broker:
                    # up to a second), which the pipeline need not wait for.
                    committing = (
                        asyncio.create_task(self._commit(self._take_written()))
                        if commit_with_next
                        else None
                    )
                    try:
                        if not stop.is_set():
                            following = await self._parse(
                                await self._next_batch(), slice_size=DECODE_SLICE
                            )
                    finally:
                        outcome = await self._finish(writing, stop)
                        if committing is not None and await committing is _Outcome.REFUSED:
                            outcome = _Outcome.REFUSED if outcome is _Outcome.WRITTEN else outcome
                    commit_with_next = outcome is _Outcome.WRITTEN and self._commit_due(
                        following, stop
                    )
                    if outcome is _Outcome.REWOUND:
                        # The batch goes back to its start, and so does everything fetched
                        # meanwhile. Rewound again here, with no fetch running: a fetch made
                        # after the write failed (or during its backoff) read records from where
                        # the write had rewound them, and moved past them.
                        self._rewind({**following.records, **batch.records})
                        following = EMPTY
                    elif outcome is _Outcome.REFUSED:
                        # The group is rebalancing: committing the next batch too would only be
                        # refused again while the client rejoins. It is dropped and its
                        # partitions rewound; a new assignment reads from the committed offsets.
                        self._rewind(following.records)
                        following = EMPTY
            # A rebalance may have run while the lock was held: records of partitions this
            # instance no longer owns are left to their new owner, who reads them again from the
            # group's committed offset.
            done, batch = batch, following.owned_by(self._consumer.assignment())
            self._start_beside(_release(done))
            del done
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self._commit_pending()  # stopping: what is written is committed
        except TimeoutError:
            log.warning(
                "stopping: offsets not committed within %ss; read again at start", CLOSE_SECONDS
            )
        for task in self._beside:
            task.cancel()  # a lag report may wait on a broker that is down
        await asyncio.gather(*self._beside, return_exceptions=True)

    async def _finish(self, writing: asyncio.Task[_Outcome], stop: asyncio.Event) -> _Outcome:
        """The batch in flight's outcome; once `stop` is set it is given `CLOSE_SECONDS`, then
        abandoned (its transaction rolls back, its records are read again at the next start): a
        database that does not answer must not hold up a shutdown."""
        if not await unless_stopped(writing, stop, grace=CLOSE_SECONDS):
            log.warning("stopping: batch in flight abandoned after %ss", CLOSE_SECONDS)
            return _Outcome.REWOUND
        return writing.result()

    def _start_beside(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._beside.add(task)
        task.add_done_callback(self._beside_done)

    def _beside_done(self, task: asyncio.Task[None]) -> None:
        self._beside.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed", task.get_coro(), exc_info=exc)

    async def _next_batch(self) -> Records:
        """Records until the batch holds `batch_max_events` or `batch_max_ms` has passed.

        One fetch returns what the broker had buffered for this consumer (a few MiB); a batch
        made of several keeps the per-batch work of the rollups (one upsert per level, whatever
        the size) from dominating when the input runs fast. Records are taken `FETCH_SLICE` at a
        time with a turn of the event loop in between: the client parses them as it hands them
        out, and a batch being written meanwhile needs the loop between its statements.
        """
        deadline = time.monotonic() + self.settings.batch_max_ms / 1000
        batch: dict[TopicPartition, list[Record]] = {}
        count = 0
        while count < self.settings.batch_max_events:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            await self._resting.wake_rested(self._consumer)
            fetched = await self._consumer.getmany(
                timeout_ms=remaining_ms,
                max_records=min(FETCH_SLICE, self.settings.batch_max_events - count),
            )
            await self._resting.rest_caught_up(self._consumer)
            if not fetched:
                break
            for tp, records in fetched.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
            await asyncio.sleep(0)
        return batch

    async def _parse(self, records: Records, slice_size: int | None = None) -> _Batch:
        """Decode and validate a batch; with `slice_size`, give the event loop a turn every
        that many records (a batch being written meanwhile needs it between statements)."""
        events: list[AllocationEvent] = []
        event_records: list[Record] = []
        assets: list[AssetCostEvent] = []
        asset_records: list[Record] = []
        dead: list[tuple[Record, str]] = []
        now = datetime.now(UTC)
        done = 0
        for tp, batch in records.items():
            is_assets = tp.topic == self.assets_topic
            for record in batch:
                try:
                    if is_assets:
                        assets.append(self._asset_validator.parse(record.value, now))
                        asset_records.append(record)
                    else:
                        events.append(self._validator.parse(record.value, now))
                        event_records.append(record)
                except InvalidEvent as exc:
                    dead.append((record, str(exc)))
                done += 1
                if slice_size is not None and done % slice_size == 0:
                    await asyncio.sleep(0)
        return _Batch(records, events, event_records, assets, asset_records, dead)

    async def _process(self, batch: _Batch, stop: asyncio.Event) -> _Outcome:
        """Write and dead-letter one batch, whose offsets then wait for `_commit_written`."""
        records, dead = batch.records, list(batch.dead)
        written_events, written_assets = len(batch.events), len(batch.assets)
        started = time.perf_counter()
        try:
            try:
                await self._write(batch.events, batch.assets)
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                # Validation let through something the database refuses: find it, dead-letter
                # it, and keep the partition moving.
                log.warning("batch refused by the database (%s); writing it record by record", exc)
                refused_events, refused_assets = await self._write_one_by_one(batch)
                dead.extend(refused_events + refused_assets)
                written_events -= len(refused_events)
                written_assets -= len(refused_assets)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            metrics.AGGREGATOR_DB_RETRIES.inc()
            self.stats.write_retries += 1
            log.warning("database unavailable (%s); batch rewound and retried", exc)
            self._rewind(records)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.retry_backoff_seconds)
            return _Outcome.REWOUND
        metrics.AGGREGATOR_WRITE_SECONDS.observe(time.perf_counter() - started)
        dead.sort(key=lambda item: (item[0].topic, item[0].partition, item[0].offset))
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
            return _Outcome.REWOUND
        offsets = {tp: batch[-1].offset + 1 for tp, batch in records.items() if batch}
        self._written.update(offsets)
        self.stats.batches += 1
        self.stats.events += written_events
        self.stats.asset_events += written_assets
        metrics.AGGREGATOR_EVENTS.labels("allocation").inc(written_events)
        metrics.AGGREGATOR_EVENTS.labels("asset").inc(written_assets)
        metrics.AGGREGATOR_BATCH_SIZE.observe(written_events + written_assets + len(dead))
        log.debug("batch of %d events written: %s", written_events, offsets)
        return _Outcome.WRITTEN

    def _commit_due(self, following: _Batch, stop: asyncio.Event) -> bool:
        """Commit every batch, except while the aggregator is behind (the next batch is already
        full): then at most every `commit_interval_ms`.

        Writes are idempotent, so a later commit covering several batches loses nothing; it
        only means more records are read again after a crash. Each commit is a request to the
        group coordinator (the local emulated broker even rewrites its whole data file on every
        offset commit: a second of CPU per commit with 200,000 events stored)."""
        interval = self.settings.commit_interval_ms / 1000
        behind = sum(map(len, following.records.values())) >= self.settings.batch_max_events
        return not behind or stop.is_set() or time.monotonic() - self._committed_at >= interval

    async def _commit_pending(self) -> None:
        """Commit what is written, if anything, between batches."""
        if self._written:
            async with self._lock:
                await self._commit_written()

    async def _commit_written(self) -> _Outcome:
        """Commit the offsets of the batches written since the last commit."""
        return await self._commit(self._take_written())

    def _take_written(self) -> dict[TopicPartition, int]:
        """The offsets of the batches written since the last commit, of partitions still owned;
        from now on they are the committing side's."""
        owned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in self._written.items() if tp in owned}
        # Written offsets of partitions that moved away are left to their new owner, who reads
        # those records again from the group's last commit.
        self._written.clear()
        return offsets

    async def _commit(self, offsets: dict[TopicPartition, int]) -> _Outcome:
        """Commit `offsets` (taken by `_take_written`). A batch may be written meanwhile: a
        commit that fails gives its offsets back unless that batch has put newer ones."""
        if not offsets:
            return _Outcome.WRITTEN
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced under us: the new owner re-reads from the last commit, and the
            # idempotent writes make that replay harmless.
            log.warning("offset commit refused after a rebalance; records will be replayed")
            return _Outcome.REFUSED
        except KafkaError as exc:
            # The batches are written; a later commit covers their offsets, or a restart replays
            # them.
            log.warning("offset commit failed (%s); a later commit will cover it", exc)
            for tp, offset in offsets.items():
                self._written.setdefault(tp, offset)
            return _Outcome.WRITTEN
        self._committed_at = time.monotonic()
        self.stats.commits += 1
        self.stats.committed.update(offsets)
        for tp, offset in offsets.items():
            metrics.AGGREGATOR_COMMITTED.labels(tp.topic, str(tp.partition)).set(offset)
        log.debug("offsets committed: %s", offsets)
        return _Outcome.WRITTEN

    async def _report_lag(self) -> None:
        """Lag per owned partition: the partition's end offset minus what the group committed.
        Run beside the batches: the broker's answer may wait behind its other work.

        End offsets are asked of the broker (ListOffsets) at most every `lag_refresh_seconds`, not read
        from fetch responses, whose high watermark brokers and emulators report differently.
        """
        now = time.monotonic()
        assigned = list(self._consumer.assignment())
        if not assigned or now - self._lag_checked < self.settings.lag_refresh_seconds:
            return
        self._lag_checked = math.inf  # none other until this one is answered
        try:
            ends = await self._consumer.end_offsets(assigned)
        except KafkaError as exc:
            log.warning("could not read end offsets for lag: %s", exc)
            return
        finally:
            self._lag_checked = time.monotonic()
        for tp, end in ends.items():
            committed = self.stats.committed.get(tp)
            if committed is not None:
                lag = max(0, end - committed)
                metrics.AGGREGATOR_LAG.labels(tp.topic, str(tp.partition)).set(lag)

    async def _check_orphans(self) -> None:
        """Look for partitions of the group that no live member consumes (see `OrphanWatch`);
        run beside the batches, every `ORPHAN_CHECK_SECONDS`."""
        try:
            owned = self._consumer.assignment()
            others = [
                TopicPartition(topic, p)
                for topic in (self.topic, self.assets_topic)
                for p in sorted(self._consumer.partitions_for_topic(topic) or ())
                if TopicPartition(topic, p) not in owned
            ]
            if not owned or not others:
                self._orphans.stalled({}, {})
                return
            ends = await self._consumer.end_offsets(others)
            committed = {tp: await self._consumer.committed(tp) or 0 for tp in others}
            self._orphans.stalled(committed, dict(ends))
        except KafkaError as exc:
            log.debug("could not look for stalled partitions: %s", exc)
        finally:
            self._orphans_checked = time.monotonic()

    async def _write(self, events: list[AllocationEvent], assets: list[AssetCostEvent]) -> None:
        try:
            await self._write_once(events, assets, general=False)
        except StoredKeys:
            # Some keys were stored already (a replay, a restatement): the all-new write was
            # rolled back with its transaction; the general write handles them.
            await self._write_once(events, assets, general=True)

    async def _write_once(
        self, events: list[AllocationEvent], assets: list[AssetCostEvent], *, general: bool
    ) -> None:
        # One transaction for both kinds (the allocation writer writes in it directly; the asset
        # writer's own block nests as a savepoint).
        async with self.pool.connection() as conn, conn.transaction():
            await self._writer.write(conn, events, general=general)
            await self._asset_writer.write(conn, assets)
        if self._continuous is not None:  # after the commit, before the offsets
            await self._continuous.refresh(
                self.pool, (e.window_start for e in events), (a.window_start for a in assets)
            )

    async def _write_one_by_one(
        self, batch: _Batch
    ) -> tuple[list[tuple[Record, str]], list[tuple[Record, str]]]:
        """Each event in a transaction of its own, in stream order (so later versions still
        win); returns the records of the events, then of the assets, the database refuses, with
        the reason for the dead-letter topic."""
        refused_events = [
            (record, reason)
            for record, event in zip(batch.event_records, batch.events, strict=True)
            if (reason := await self._refusal([event], [])) is not None
        ]
        refused_assets = [
            (record, reason)
            for record, asset in zip(batch.asset_records, batch.assets, strict=True)
            if (reason := await self._refusal([], [asset])) is not None
        ]
        return refused_events, refused_assets

    async def _refusal(
        self, events: list[AllocationEvent], assets: list[AssetCostEvent]
    ) -> str | None:
        """Why the database refuses to write these events, or None once they are written."""
        try:
            await self._write(events, assets)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            return f"refused by the database: {exc}"
        return None

    def _rewind(self, records: Records) -> None:
        """Seek each partition back to its first record here (those still assigned: a partition
        that moved is read by its new owner from the group's committed offset)."""
        owned = self._consumer.assignment()
        for tp, batch in records.items():
            if batch and tp in owned:
                self._consumer.seek(tp, batch[0].offset)

    async def _replace_dead_letter_producer(self) -> None:
        """A new producer, with a new producer id: an idempotent producer whose sequence state
        the broker lost (a broker restart can do that) fails every later send."""
        old, self._dlq = self._dlq, self._dead_letter_producer()
        self._dlq_started = False
        with contextlib.suppress(KafkaError):
            await old.stop()

    async def _dead_letter(self, dead: list[tuple[Record, str]]) -> None:
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
