"""A bounded load test on loopback: the API at a fixed request rate for a fixed time, over every
authenticated operation in the app's OpenAPI schema, while the pipeline ingests at the same time.

Open loop: requests start on a fixed schedule whether or not earlier ones have answered, so a
slow answer shows up as latency instead of quietly lowering the rate. Every answer must be a 200;
latency percentiles are reported, never asserted (timing belongs to bench/). Afterwards the
database holds every ingested event exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from services.collector.producer import EventProducer
from shared.events import AllocationEvent
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.support.aggregator_helpers import (
    assert_database_matches,
    stop_gracefully,
    wait_for_commits,
)
from tests.support.api_catalog import Operation, authenticated, both_headers
from tests.support.processes import start_costpipe
from tests.support.reliability_report import record
from tests.support.seeded_api import ALLOWED, SeededApi

pytestmark = pytest.mark.integration

RATE_PER_SECOND = 20
SECONDS = 20
INGEST_BATCH = 100  # events per second while the load runs


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def _ingested(seeded: SeededApi, second: int) -> list[AllocationEvent]:
    """New allocations of the allowed cluster, one batch per second of load."""
    template = seeded.events[0]
    return [
        msgspec.structs.replace(
            template,
            event_id=uuid.UUID(int=second * 10_000 + i + 1),
            cluster_id=ALLOWED,
            name=f"load-{second}-{i}",
            window_start=seeded.end - timedelta(hours=1 + i % 24),
            window_end=seeded.end - timedelta(hours=i % 24),
            produced_at=template.produced_at + timedelta(seconds=second),
        )
        for i in range(INGEST_BATCH)
    ]


async def _ingest(seeded: SeededApi) -> list[AllocationEvent]:
    settings = KafkaSettings.from_env(seeded.env)
    await ensure_topics(settings)
    producer = EventProducer(settings)
    await producer.start()
    sent: list[AllocationEvent] = []
    try:
        for second in range(SECONDS):
            batch = _ingested(seeded, second)
            await producer.send_all(batch)
            sent += batch
            await asyncio.sleep(1)
    finally:
        await producer.stop()
    return sent


async def _load(seeded: SeededApi, operations: list[Operation]) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    headers = both_headers(seeded.keys["valid"])

    async def one(client: httpx.AsyncClient, op: Operation) -> None:
        query = seeded.query_for(op)
        started = time.perf_counter()
        try:
            response = await client.get(op.url(seeded.base, seeded.path_values), params=query)
        except httpx.HTTPError as exc:
            errors.append(f"{op.path}: {exc!r}")
            return
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            errors.append(f"{op.path}: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(headers=headers, timeout=30, limits=limits) as client:
        tasks = []
        start = time.perf_counter()
        for n in range(RATE_PER_SECOND * SECONDS):
            delay = start + n / RATE_PER_SECOND - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, operations[n % len(operations)])))
        await asyncio.gather(*tasks)
    return latencies, errors


def test_fixed_rate_load_while_ingesting(seeded: SeededApi, tmp_path: Path) -> None:
    operations = authenticated(seeded.base)
    log = tmp_path / "aggregator.log"
    aggregator = start_costpipe(["aggregator"], seeded.env, log)
    try:

        async def main() -> tuple[list[float], list[str], list[AllocationEvent]]:
            (latencies, errors), sent = await asyncio.gather(
                _load(seeded, operations), _ingest(seeded)
            )
            return latencies, errors, sent

        latencies, errors, sent = asyncio.run(main())
        kafka = KafkaSettings.from_env(seeded.env)
        wait_for_commits(kafka, len(seeded.events) + len(sent), aggregator, log, 120)
        stop_gracefully(aggregator, log)
    finally:
        if aggregator.poll() is None:
            aggregator.kill()
            aggregator.wait()

    assert not errors, f"{len(errors)} errors, first: {errors[:5]}"
    stored = assert_database_matches(seeded.env["COSTPIPE_DATABASE_URL"], [*seeded.events, *sent])
    assert stored == len(seeded.events) + len(sent)  # events lost: 0
    ordered = sorted(latencies)
    record("load_requests_served", len(latencies))
    record("load_rate_per_second", RATE_PER_SECOND)
    record("load_seconds", SECONDS)
    record("load_operations", len(operations))
    record("load_events_ingested", len(sent))
    record("load_events_lost", 0)
    for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        record(f"load_latency_{name}_ms", round(_percentile(ordered, fraction) * 1000, 1))
    record("load_latency_max_ms", round(ordered[-1] * 1000, 1))
