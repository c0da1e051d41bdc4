"""The aggregator as a long-lived process (see services/runtime.py)."""

from __future__ import annotations

import asyncio
import contextlib

from services.aggregator.consumer import Aggregator
from services.aggregator.membership import InstanceLease
from services.aggregator.memory import tune_garbage_collector
from services.ops_server import Readiness
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
    readiness = Readiness()
    lease = InstanceLease(database, kafka.consumer_group, settings)
    async with (
        make_pool(database, "aggregator") as pool,
        ops_endpoints(ops, pool, kafka, readiness),
    ):
        if not await retry_until_connected("aggregator", lambda: ensure_topics(kafka), stop):
            return 0
        if not await lease.acquire(stop, readiness):
            return 0
        try:
            aggregator = Aggregator(kafka, settings, pool, lease.instance_id, readiness)
            tune_garbage_collector()
            if not await retry_until_connected("aggregator", aggregator.detect_rollup_mode, stop):
                return 0
            if not await retry_until_connected("aggregator", aggregator.start, stop):
                await aggregator.stop()
                return 0
            keeping = asyncio.create_task(lease.keep(stop))
            running = asyncio.create_task(aggregator.run(stop, idle_exit_seconds))
            try:
                # Whichever ends first: a lost lease ends the run (raising), as the run's end
                # ends the lease.
                await asyncio.wait({keeping, running}, return_when=asyncio.FIRST_COMPLETED)
                if keeping.done() and not running.done():
                    stop.set()
                await running
            finally:
                await aggregator.stop()
                keeping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeping
            return aggregator.stats.events
        finally:
            await lease.release()
