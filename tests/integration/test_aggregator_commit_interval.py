"""While the aggregator is behind, it commits offsets at most every `commit_interval_ms`; the
batch that catches up is committed at once, so the group ends with the whole topic committed.
A commit runs while the next batch is written: the pipeline does not wait for the broker.

Every event is still counted exactly once: batches whose commit waits for a later one are in the
database already, and a replay of them would change nothing (the fault tests cover the replay).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import TopicPartition

from services.aggregator.consumer import Aggregator, AggregatorStats
from shared.db.pool import make_pool
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, DatabaseSettings
from tests.support import aggregator_helpers as helpers
from tests.support.services import Services

pytestmark = pytest.mark.integration

PARTITIONS = 3


def _drain_backlog(
    services: Services,
    database_url: str,
    commit_interval_ms: int,
    seed: int,
    instrument: Callable[[Aggregator], None] | None = None,
) -> AggregatorStats:
    """Produce a backlog of several full batches, then let one aggregator read it to its end."""
    kafka = helpers.run_scoped_kafka(services.kafka_bootstrap, "interval", PARTITIONS)
    settings = AggregatorSettings(
        batch_max_events=250,
        batch_max_ms=2000,
        retry_backoff_seconds=0.2,
        commit_interval_ms=commit_interval_ms,
    )
    database = DatabaseSettings(url=database_url, pool_min=1, pool_max=2)
    events, records = helpers.synthetic_stream(2500, seed=seed)

    async def scenario() -> AggregatorStats:
        await ensure_topics(kafka)
        await helpers.produce(kafka.bootstrap, kafka.allocations_topic, records)
        stop = asyncio.Event()
        async with make_pool(database, "aggregator-interval") as pool:
            aggregator = Aggregator(kafka, settings, pool)
            if instrument is not None:
                instrument(aggregator)
            await aggregator.start()
            running = asyncio.create_task(aggregator.run(stop))
            try:
                await helpers.until_committed(kafka, len(records), running, 120)
            finally:
                stop.set()
                await asyncio.wait_for(running, 30)
                await aggregator.stop()
            return aggregator.stats

    stats = asyncio.run(scenario())
    assert stats.events == len(events)
    helpers.assert_database_matches(database_url, events)
    return stats


def test_behind_commits_wait_for_the_interval_and_catching_up_commits(
    services: Services, database_url: str
) -> None:
    stats = _drain_backlog(services, database_url, commit_interval_ms=600_000, seed=41)
    # Ten full batches: the first is committed (there was no commit yet), the others wait for
    # the one that catches up (a fetch shorter than a batch can end the wait early, never more
    # than twice).
    assert stats.batches >= 10
    assert 2 <= stats.commits <= 4


def test_interval_zero_commits_every_batch(services: Services, database_url: str) -> None:
    stats = _drain_backlog(services, database_url, commit_interval_ms=0, seed=42)
    assert stats.batches >= 10
    assert stats.commits == stats.batches


def test_a_commit_runs_while_the_next_batch_is_written(
    services: Services, database_url: str
) -> None:
    """Each commit is made slow (a broker far away); batches are still written meanwhile, and a
    commit never names an offset whose batch is not in the database yet."""
    commits: list[tuple[float, float]] = []
    writes: list[float] = []
    unsafe: list[str] = []

    def instrument(aggregator: Aggregator) -> None:
        consumer, writer = aggregator._consumer, aggregator._writer
        real_commit, real_write, real_process = consumer.commit, writer.write, aggregator._process
        in_database: dict[TopicPartition, int] = {}  # next offset, per partition

        async def process(batch: Any, *rest: Any) -> Any:
            outcome = await real_process(batch, *rest)
            in_database.update({tp: rs[-1].offset + 1 for tp, rs in batch.records.items() if rs})
            return outcome

        async def slow_commit(offsets: dict[TopicPartition, int]) -> None:
            started = time.monotonic()
            unsafe.extend(
                f"{tp}@{offset} committed before its batch was written"
                for tp, offset in offsets.items()
                if offset > in_database.get(tp, 0)
            )
            await asyncio.sleep(0.3)
            await real_commit(offsets)
            commits.append((started, time.monotonic()))

        async def timed_write(*args: Any, **kwargs: Any) -> Any:
            writes.append(time.monotonic())
            return await real_write(*args, **kwargs)

        aggregator._process = process  # type: ignore[method-assign]
        consumer.commit = slow_commit
        writer.write = timed_write  # type: ignore[method-assign]

    stats = _drain_backlog(services, database_url, 0, seed=43, instrument=instrument)
    assert stats.commits == stats.batches >= 10
    assert not unsafe
    overlapped = [w for w in writes if any(start < w < end for start, end in commits)]
    assert len(overlapped) >= stats.batches // 2, (commits, writes)
