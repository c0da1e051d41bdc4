"""Sending dead letters back to the topic they came from, once their cause is fixed.

A record lands on the dead-letter topic with its original bytes and key and the headers
`reason` and `source_topic`. After a fix (a validation bound widened, a bug in the aggregator
repaired), an operator replays them: each goes back to its source topic unchanged, and the
aggregator's idempotent writes make a replayed record that was meanwhile re-sent by the collector
harmless. A record that is still invalid simply lands on the dead-letter topic again.

Progress is a consumer group of its own (`<consumer group>.dead-letter-replay`, one per reason
filter), committed after every acknowledged chunk: a second run replays only what arrived since,
and an interrupted run resumes. A run filtered by reason keeps its own progress, so it never
consumes the dead letters it skips; a later run without a filter replays those, and replays again
what the filtered run sent (harmless: writes are idempotent). What to replay is fixed when the run starts (the topic's end offsets then), so records
dead-lettered again during the run are not replayed in a loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.progress import Labels, Progress
from shared.settings import KafkaSettings

REPLAY = Labels("replay", "dead letters")
_TASK = "dead letters"


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    skipped: int  # filtered out by reason, or without a known source topic


def replay_group(kafka: KafkaSettings, reason_prefix: str = "") -> str:
    group = f"{kafka.consumer_group}.dead-letter-replay"
    if reason_prefix:
        group += "." + hashlib.sha256(reason_prefix.encode()).hexdigest()[:12]
    return group


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> str:
    for key, value in record.headers:
        if key == name:
            return bytes(value).decode(errors="replace")
    return ""


async def replay_dead_letters(
    kafka: KafkaSettings, progress: Progress, reason_prefix: str = ""
) -> ReplayResult:
    """Replay dead letters whose reason starts with `reason_prefix` (all when empty)."""
    sources = {kafka.allocations_topic, kafka.assets_topic}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=replay_group(kafka, reason_prefix),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True
    )
    await consumer.start()
    await producer.start()
    try:
        partitions = [
            TopicPartition(kafka.dead_letter_topic, p)
            for p in sorted(consumer.partitions_for_topic(kafka.dead_letter_topic) or ())
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = {tp: await consumer.position(tp) for tp in partitions}
        progress.begin(_TASK, sum(max(ends[tp] - starts[tp], 0) for tp in partitions))
        replayed = skipped = 0
        pending = {tp for tp in partitions if starts[tp] < ends[tp]}
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=1000)
            futures: list[asyncio.Future[object]] = []
            offsets: dict[TopicPartition, int] = {}
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    offsets[tp] = record.offset + 1
                    source = _header(record, "source_topic")
                    if source not in sources or not _header(record, "reason").startswith(
                        reason_prefix
                    ):
                        skipped += 1
                        continue
                    futures.append(await producer.send(source, record.value, key=record.key))
                    replayed += 1
            await asyncio.gather(*futures)
            if offsets:
                await consumer.commit(offsets)
                progress.advance(_TASK, sum(o - starts[tp] for tp, o in offsets.items()))
                starts.update(offsets)
            pending = {tp for tp in pending if starts[tp] < ends[tp]}
        progress.end(_TASK)
        return ReplayResult(replayed, skipped)
    finally:
        progress.close()
        await producer.stop()
        await consumer.stop()
