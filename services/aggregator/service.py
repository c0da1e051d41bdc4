"""The aggregator as a long-lived process (see services/runtime.py)."""

from __future__ import annotations

import asyncio

from services.aggregator.consumer import Aggregator
from services.aggregator.memory import tune_garbage_collector
from services.runtime import ops_endpoints, retry_until_connected
from shared.db.pool import make_pool
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, DatabaseSettings, KafkaSettings, OpsSettings


async def aggregator_service(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    settings: AggregatorSettings,
    stop: asyncio.Event,
    idle_exit_seconds: float | None = None,
    ops: OpsSettings | None = None,
) -> int:
    async with make_pool(database, "aggregator") as pool, ops_endpoints(ops, pool, kafka):
        if not await retry_until_connected("aggregator", lambda: ensure_topics(kafka), stop):
            return 0
        aggregator = Aggregator(kafka, settings, pool)
        tune_garbage_collector()
        if not await retry_until_connected("aggregator", aggregator.detect_rollup_mode, stop):
            return 0
        if not await retry_until_connected("aggregator", aggregator.start, stop):
            return 0
        try:
            await aggregator.run(stop, idle_exit_seconds=idle_exit_seconds)
        finally:
            await aggregator.stop()
        return aggregator.stats.events
