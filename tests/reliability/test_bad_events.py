"""Bad events on the allocations topic: each goes to the dead-letter topic, byte for byte, with
its reason and its origin in the headers, and the valid events around it (same cluster, same
partition, before and after) reach the database exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from shared.events import AllocationEvent, encode_event
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, KafkaSettings
from tests.support.aggregator_helpers import (
    Record,
    assert_database_matches,
    produce,
    read_topic,
    run_until_caught_up,
)
from tests.support.pipeline import allocation
from tests.support.reliability_report import record

pytestmark = pytest.mark.integration

ORG = uuid.UUID("0000000e-0000-4000-8000-0000000bad00")
CLUSTER = uuid.uuid5(ORG, "cluster")
KEY = str(CLUSTER).encode()
FIRST_HOUR = datetime(2026, 1, 5, tzinfo=UTC)
PRODUCED = datetime(2026, 1, 6, tzinfo=UTC)


def _valid(i: int) -> AllocationEvent:
    start = FIRST_HOUR + timedelta(hours=i)
    return allocation(
        organization_id=ORG,
        cluster_id=CLUSTER,
        window_start=start,
        window_end=start + timedelta(hours=1),
        name=f"pod-{i}",
        cost=1_000_000 + i,
        idle_share=i,
        namespace="ns",
        produced_at=PRODUCED,
    )


def _changed(event: AllocationEvent, **changes: object) -> bytes:
    """The event's JSON with fields replaced, bypassing the Struct's own type checks."""
    document = msgspec.json.decode(encode_event(event))
    document.update(changes)
    return msgspec.json.encode(document)


def _bad_records(base: AllocationEvent) -> list[tuple[bytes | None, str]]:
    """(value, the reason's start) for every kind of bad event the aggregator must refuse."""
    far = datetime.now(UTC) + timedelta(days=3650)
    return [
        (b"{not json", "undecodable"),
        (b"\xff\xfe\x00 binary", "undecodable"),
        (None, "empty message"),
        (_changed(base, labels="x" * 70_000), "message of"),
        (_changed(base, schema_version=2), "unsupported schema_version 2"),
        (_changed(base, schema_version="one"), "unsupported schema_version 'one'"),
        (_changed(base, cost=-5, total_cost=-5), "negative cost"),
        (_changed(base, cost="12.50"), "schema violation"),
        (_changed(base, event_id="not-a-uuid"), "schema violation"),
        (
            _changed(
                base,
                window_start=far.isoformat(),
                window_end=(far + timedelta(hours=1)).isoformat(),
            ),
            "window starts in the future",
        ),
        (_changed(base, window_end=base.window_start.isoformat()), "window_end must be after"),
        (_changed(base, name=""), "allocation name is empty"),
        (_changed(base, cost=2**62), "cost out of range"),
        (_changed(base, cpu_core_request_average=1e300), "cpu_core_request_average out of range"),
        # Valid to the schema, refused by PostgreSQL (text cannot hold NUL): found by writing
        # the batch record by record.
        (_changed(base, namespace="ns\u0000x"), "refused by the database"),
    ]


def test_bad_events_go_to_the_dead_letter_topic_and_the_rest_flows(
    pipeline_env: dict[str, str], database_url: str
) -> None:
    kafka = KafkaSettings.from_env(pipeline_env)
    bad = _bad_records(_valid(0))
    valid = [_valid(i) for i in range(len(bad) + 1)]
    records: list[Record] = []
    for i, event in enumerate(valid):  # valid, bad, valid, bad, ..., valid: one partition
        records.append(Record(KEY, encode_event(event)))
        if i < len(bad):
            records.append(Record(KEY, bad[i][0]))

    async def main() -> list[tuple[bytes | None, dict[str, bytes]]]:
        await ensure_topics(kafka)
        await produce(kafka.bootstrap, kafka.allocations_topic, records)
        stats = await run_until_caught_up(
            kafka, AggregatorSettings(batch_max_events=4, batch_max_ms=50), database_url
        )
        assert stats.dead_letters == len(bad)
        assert stats.events == len(valid)
        return await read_topic(kafka.bootstrap, kafka.dead_letter_topic, len(bad))

    dead = asyncio.run(main())

    assert [value for value, _ in dead] == [value for value, _ in bad]
    for (value, headers), (_, reason) in zip(dead, bad, strict=True):
        assert headers["reason"].decode().startswith(reason), (value, headers["reason"])
        assert headers["source_topic"] == kafka.allocations_topic.encode()
    offsets = [int(headers["source_offset"]) for _, headers in dead]
    assert offsets == [2 * i + 1 for i in range(len(bad))], "each bad record between two valid"
    assert assert_database_matches(database_url, valid) == len(valid)  # events lost: 0
    record("bad_events_dead_lettered", len(dead))
    record("bad_events_valid_stored", len(valid))
