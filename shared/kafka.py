"""Kafka topics the pipeline owns, created on start if missing (idempotent, race-safe)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


async def ensure_topics(settings: KafkaSettings) -> None:
    topics = (settings.allocations_topic, settings.assets_topic, settings.dead_letter_topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        t,
                        num_partitions=settings.partitions,
                        replication_factor=settings.replication_factor,
                    )
                    for t in missing
                ]
            )
        except TopicAlreadyExistsError:
            log.info("topics %s were created concurrently", missing)
        else:
            log.info("created topics %s", missing)
    finally:
        await admin.close()
