"""The collector as a long-lived process (see services/runtime.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from services.collector.config import CollectorConfig
from services.collector.producer import EventProducer
from services.collector.runner import run_collector
from services.collector.state import CollectorState
from services.ops_server import Readiness
from services.runtime import ops_endpoints, retry_until_connected
from shared.db.pool import make_pool
from shared.kafka import ensure_topics
from shared.settings import DatabaseSettings, KafkaSettings, OpsSettings


async def collector_service(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    config: CollectorConfig,
    stop: asyncio.Event,
    once: bool = False,
    window: tuple[datetime, datetime] | None = None,
    ops: OpsSettings | None = None,
) -> int:
    readiness = Readiness()
    async with (
        make_pool(database, "collector") as pool,
        ops_endpoints(ops, pool, kafka, readiness),
    ):
        if not await retry_until_connected("collector", lambda: ensure_topics(kafka), stop):
            return 0
        producer = EventProducer(kafka)
        if not await retry_until_connected("collector", producer.start, stop):
            return 0
        try:
            return await run_collector(
                config,
                producer,
                CollectorState(pool),
                once=once,
                window=window,
                stop=stop,
                readiness=readiness,
            )
        finally:
            await producer.stop()
