"""Faults in the middle of a stream: nothing lost, nothing doubled.

The aggregator runs as its own process (`costpipe aggregator`), the way it runs in production, so
it can be killed for real. Each test injects one fault while the aggregator has committed some but
not all of a stream, lets it finish, and then compares the database with the ground truth to the
micro-unit: raw rows equal the newest version of every key, every rollup level equals the GROUP
BY of the raw rows.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path

import pytest

from shared.db.migrations import migrate
from shared.kafka import ensure_topics
from shared.localservices.kafka import LocalKafka
from shared.localservices.timescale import LocalTimescale
from shared.settings import KafkaSettings
from tests.support.aggregator_helpers import (
    CommitWatch,
    Record,
    aggregator_process,
    assert_database_matches,
    committed_offsets,
    end_offsets,
    produce,
    read_topic,
    stop_gracefully,
    synthetic_stream,
    tail,
    total,
    wait_for_commits,
)
from tests.support.reliability_report import record
from tests.support.services import Services

pytestmark = pytest.mark.integration

EVENTS = 25_000
POISON = 12
# Small batches make "some but not all committed" a wide window to strike in.
BATCHING = {
    "COSTPIPE_BATCH_MAX_EVENTS": "500",
    "COSTPIPE_BATCH_MAX_MS": "100",
    "COSTPIPE_RETRY_BACKOFF_SECONDS": "0.5",
}


def _produce(kafka: KafkaSettings, records: list[Record]) -> None:
    async def main() -> None:
        await ensure_topics(kafka)
        await produce(kafka.bootstrap, kafka.allocations_topic, records)

    asyncio.run(main())


def _committed(kafka: KafkaSettings) -> int:
    return total(
        asyncio.run(
            committed_offsets(
                kafka.bootstrap, kafka.consumer_group, kafka.allocations_topic, kafka.partitions
            )
        )
    )


def _end(kafka: KafkaSettings, topic: str) -> int:
    return total(asyncio.run(end_offsets(kafka.bootstrap, topic, kafka.partitions)))


def _assert_dead_letters(kafka: KafkaSettings, records: list[Record]) -> None:
    """Every poison record is on the dead-letter topic. A crash between sending a dead letter and
    committing its offset sends it again, so copies are allowed; anything else is not."""
    poison = {r.value for r in records if r.key == b"poison"}
    count = _end(kafka, kafka.dead_letter_topic)
    found = asyncio.run(read_topic(kafka.bootstrap, kafka.dead_letter_topic, count))
    assert len(found) == count
    assert {value for value, _ in found} == poison
    assert all(headers["reason"].startswith(b"undecodable") for _, headers in found)


def test_sigkill_at_any_moment_then_restart_with_the_same_configuration(
    pipeline_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Killed mid-stream (mid batch, mid commit: a random moment after a commit) and mid-join
    (before its first assignment), then started again with exactly the same environment, group
    id included: each restart consumes again by itself, and the database ends exact."""
    env = {**pipeline_env, **BATCHING}
    kafka = KafkaSettings.from_env(env)
    events, records = synthetic_stream(EVENTS, seed=1, poison=POISON)
    # A part of the stream arrives before each start, so each restarted process has work of its
    # own to resume (the aggregator drains 5,000 records in well under a second).
    parts = [records[len(records) * i // 5 : len(records) * (i + 1) // 5] for i in range(5)]
    log = tmp_path / "aggregator.log"
    rng = random.Random(7)
    resume_seconds: list[float] = []

    with CommitWatch(kafka) as watch:
        for round_ in range(4):
            _produce(kafka, parts[round_])
            with aggregator_process(env, log) as process:
                started = time.monotonic()
                if round_ == 1:  # mid-join: killed while it joins its group
                    time.sleep(rng.uniform(0.5, 2.0))
                else:
                    # Within 30 s of its start the restarted process must commit again.
                    _, first, _ = watch.wait(watch.committed() + 1, [(process, log)], 30)
                    assert first is not None
                    resume_seconds.append(round(first - started, 2))
                    time.sleep(rng.uniform(0.0, 0.3))  # somewhere in a batch or a commit
                process.kill()  # SIGKILL: no drain, no offset commit, possibly mid-transaction
                process.wait(timeout=10)
        at_kill = watch.committed()
        assert 0 < at_kill < len(records), f"{at_kill} of {len(records)} committed at the kill"
        _produce(kafka, parts[4])
        with aggregator_process(env, log) as last:
            watch.wait(len(records), [(last, log)], 120)
            stop_gracefully(last, log, wait_seconds=10)

    record("aggregator_restart_to_first_commit_seconds", resume_seconds)
    assert_database_matches(database_url, events)
    _assert_dead_letters(kafka, records)


def test_broker_restart_mid_stream(database_url: str, scratch_dir: Path, tmp_path: Path) -> None:
    broker = LocalKafka(scratch_dir / "kafka")
    try:
        run_id = uuid.uuid4().hex[:10]
        env = {
            "COSTPIPE_DATABASE_URL": database_url,
            "COSTPIPE_KAFKA_BOOTSTRAP": broker.start(),
            "COSTPIPE_KAFKA_TOPIC_PREFIX": f"fault-{run_id}.",
            "COSTPIPE_KAFKA_CONSUMER_GROUP": f"fault-{run_id}",
            "COSTPIPE_KAFKA_PARTITIONS": "3",
            **BATCHING,
        }
        kafka = KafkaSettings.from_env(env)
        events, records = synthetic_stream(EVENTS, seed=2, poison=POISON)
        half = len(records) // 2
        _produce(kafka, records[:half])
        log = tmp_path / "aggregator.log"

        with aggregator_process(env, log) as aggregator:
            wait_for_commits(kafka, half // 5, aggregator, log, wait_seconds=90)
            assert _committed(kafka) < half, "first half done before the broker went down"
            produced = _end(kafka, kafka.allocations_topic)
            broker.stop()
            time.sleep(4)
            assert aggregator.poll() is None, f"aggregator died with the broker:\n{tail(log)}"
            broker.start()
            # Same data folder and port: the restart keeps every record and committed offset.
            assert _end(kafka, kafka.allocations_topic) == produced
            _produce(kafka, records[half:])
            wait_for_commits(kafka, len(records), aggregator, log, wait_seconds=120)
            stop_gracefully(aggregator, log)

        assert_database_matches(database_url, events)
        _assert_dead_letters(kafka, records)
    finally:
        broker.stop()


def test_database_restart_mid_stream(services: Services, scratch_dir: Path, tmp_path: Path) -> None:
    database = LocalTimescale(scratch_dir / "pg", durable=True)
    try:
        url = database.start()
        migrate(url)
        run_id = uuid.uuid4().hex[:10]
        env = {
            "COSTPIPE_DATABASE_URL": url,
            "COSTPIPE_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
            "COSTPIPE_KAFKA_TOPIC_PREFIX": f"fault-{run_id}.",
            "COSTPIPE_KAFKA_CONSUMER_GROUP": f"fault-{run_id}",
            "COSTPIPE_KAFKA_PARTITIONS": "3",
            **BATCHING,
        }
        kafka = KafkaSettings.from_env(env)
        events, records = synthetic_stream(EVENTS, seed=3, poison=POISON)
        half = len(records) // 2
        _produce(kafka, records[:half])
        log = tmp_path / "aggregator.log"

        with aggregator_process(env, log) as aggregator:
            wait_for_commits(kafka, len(records) // 5, aggregator, log, wait_seconds=90)
            database.stop(mode="fast")  # ends every session, possibly mid-transaction
            _produce(kafka, records[half:])  # the rest arrives while the database is away
            time.sleep(4)
            assert aggregator.poll() is None, f"aggregator died with the database:\n{tail(log)}"
            database.start()
            wait_for_commits(kafka, len(records), aggregator, log, wait_seconds=120)
            stop_gracefully(aggregator, log)

        assert "database unavailable" in log.read_text(), "the outage went unnoticed"
        assert_database_matches(url, events)
        _assert_dead_letters(kafka, records)
    finally:
        database.destroy()
