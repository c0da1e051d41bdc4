"""`costpipe replay-dead-letters`: dead letters go back to their source topic once, per filter,
and the aggregator then stores the ones that are valid and dead-letters the rest again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from shared.events import AllocationEvent, encode_event
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.support.aggregator_helpers import assert_database_matches, read_topic
from tests.support.pipeline import aggregate, allocation
from tests.support.processes import run_costpipe

ORG = uuid.UUID("0000000e-0000-4000-8000-00000000de1e")
CLUSTER = uuid.uuid5(ORG, "cluster")
START = datetime(2026, 2, 2, tzinfo=UTC)


def _event(i: int) -> AllocationEvent:
    return allocation(
        organization_id=ORG,
        cluster_id=CLUSTER,
        window_start=START + timedelta(hours=i),
        window_end=START + timedelta(hours=i + 1),
        name=f"pod-{i}",
        cost=1_000_000 * (i + 1),
        namespace="ns",
        produced_at=START + timedelta(days=1),
    )


def _replay(env: dict[str, str], *args: str) -> str:
    return run_costpipe(["replay-dead-letters", *args], env).stdout.strip().splitlines()[-1]


def test_dead_letters_are_replayed_once_per_filter(
    pipeline_env: dict[str, str], database_url: str
) -> None:
    kafka = KafkaSettings.from_env(pipeline_env)
    first, second = _event(0), _event(1)
    key = str(CLUSTER).encode()
    dead = [
        (encode_event(first), "window starts in the future"),  # valid now
        (encode_event(second), "refused by the database: ..."),  # the cause since fixed
        (b"{not json", "undecodable: ..."),  # still bad
    ]

    async def dead_letter() -> None:
        await ensure_topics(kafka)
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
        await producer.start()
        try:
            for value, reason in dead:
                headers = [
                    ("reason", reason.encode()),
                    ("source_topic", kafka.allocations_topic.encode()),
                ]
                await producer.send_and_wait(
                    kafka.dead_letter_topic, value, key=key, headers=headers
                )
        finally:
            await producer.stop()

    asyncio.run(dead_letter())

    assert _replay(pipeline_env, "--reason", "window") == (
        "replayed 1 dead letter(s) to their source topics; skipped 2"
    )
    assert _replay(pipeline_env, "--reason", "window") == (
        "replayed 0 dead letter(s) to their source topics; skipped 0"
    )
    assert _replay(pipeline_env) == "replayed 3 dead letter(s) to their source topics; skipped 0"
    aggregate(pipeline_env)

    assert assert_database_matches(database_url, [first, second]) == 2
    letters = asyncio.run(read_topic(kafka.bootstrap, kafka.dead_letter_topic, len(dead) + 1))
    values = [value for value, _ in letters]
    assert values == [value for value, _ in dead] + [b"{not json"]
    assert letters[-1][1]["reason"].decode().startswith("undecodable")
