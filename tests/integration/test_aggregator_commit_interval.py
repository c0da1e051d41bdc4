"""While the aggregator is behind, it commits offsets at most every `commit_interval_ms`; the
batch that catches up is committed at once, so the group ends with the whole topic committed.

Every event is still counted exactly once: batches whose commit waits for a later one are in the
database already, and a replay of them would change nothing (the fault tests cover the replay).
"""

from __future__ import annotations

import asyncio

import pytest

from services.aggregator.consumer import Aggregator, AggregatorStats
from shared.db.pool import make_pool
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, DatabaseSettings
from tests.support import aggregator_helpers as helpers
from tests.support.services import Services

pytestmark = pytest.mark.integration

PARTITIONS = 3


def _drain_backlog(
    services: Services, database_url: str, commit_interval_ms: int, seed: int
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
