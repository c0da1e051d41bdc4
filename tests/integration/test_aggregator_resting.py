"""Partitions read to their end rest between polls, stay at rest while nothing arrives, and
records that arrive on them meanwhile are still consumed, in order, exactly once.

Without the rest, the consumer asks a broker that answers empty fetches at once (the local one)
thousands of times a second for the partitions that have nothing (services/aggregator/resting.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from services.aggregator.consumer import Aggregator
from shared.db.pool import make_pool
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, DatabaseSettings
from tests.support.aggregator_helpers import (
    assert_database_matches,
    produce,
    run_scoped_kafka,
    synthetic_stream,
    until_committed,
)
from tests.support.services import Services

pytestmark = pytest.mark.integration


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def test_idle_partitions_rest_and_wake_for_new_records(
    services: Services, database_url: str
) -> None:
    kafka = run_scoped_kafka(services.kafka_bootstrap, "rest", 3)
    settings = AggregatorSettings(batch_max_events=500, batch_max_ms=300, retry_backoff_seconds=0.2)
    database = DatabaseSettings(url=database_url, pool_min=1, pool_max=2)
    first_events, first_records = synthetic_stream(600, seed=21)
    second_events, second_records = synthetic_stream(600, seed=22)
    rested_while_idle: list[int] = []
    awake_while_idle: list[set[object]] = []

    async def scenario() -> None:
        await ensure_topics(kafka)
        stop = asyncio.Event()
        async with make_pool(database, "aggregator-rest") as pool:
            aggregator = Aggregator(kafka, settings, pool)
            await aggregator.start()
            running = asyncio.create_task(aggregator.run(stop))

            async def all_owned_rest() -> bool:
                owned = aggregator.assignment()
                resting = aggregator.resting()
                if owned and owned == resting:
                    rested_while_idle.append(len(resting))
                    return True
                return False

            async def stay_rested(rests: int) -> None:
                """Sample for several rests: a partition with nothing new is never resumed (a
                resumed one is fetched in a loop by a broker that answers at once)."""
                deadline = time.monotonic() + rests * settings.batch_max_ms / 1000
                while time.monotonic() < deadline:
                    awake = aggregator.assignment() - aggregator.resting()
                    if awake:
                        awake_while_idle.append(set(awake))
                    await asyncio.sleep(0.01)

            try:
                await _until(all_owned_rest, 60, "the idle partitions never rested")
                await stay_rested(4)
                await produce(kafka.bootstrap, kafka.allocations_topic, first_records)
                await until_committed(kafka, len(first_records), running, 60)
                # Read to their end again: they rest again, and wake for the next records.
                await _until(all_owned_rest, 30, "the partitions did not rest once caught up")
                await produce(kafka.bootstrap, kafka.allocations_topic, second_records)
                await until_committed(kafka, len(first_records) + len(second_records), running, 60)
            finally:
                stop.set()
                await asyncio.wait_for(running, 30)
                await aggregator.stop()

    asyncio.run(scenario())
    # Six topic partitions (allocations and assets, three each) rested while nothing came in.
    assert rested_while_idle == [6, 6]
    assert awake_while_idle == []
    assert_database_matches(database_url, first_events + second_events)
