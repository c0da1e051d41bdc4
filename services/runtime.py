"""Running each service as a long-lived process: signals, pools, clean shutdown.

SIGTERM and SIGINT set one stop event; each service drains what it is doing and returns, so the
process exits 0 (what Kubernetes expects from a clean rollout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import psycopg
import uvicorn
from aiokafka.errors import KafkaConnectionError
from psycopg_pool import PoolTimeout

from services.aggregator.consumer import Aggregator
from services.aggregator.memory import tune_garbage_collector
from services.api.access_log import access_log_middleware
from services.api.app import create_app
from services.collector.config import CollectorConfig
from services.collector.producer import EventProducer
from services.collector.runner import run_collector
from services.collector.state import CollectorState
from services.ops_server import EmbeddedServer, serve_ops
from shared.db.pool import Pool, make_pool
from shared.kafka import ensure_topics
from shared.settings import (
    AggregatorSettings,
    ApiSettings,
    DatabaseSettings,
    KafkaSettings,
    OpsSettings,
)

log = logging.getLogger(__name__)


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


@contextlib.asynccontextmanager
async def _ops_endpoints(
    ops: OpsSettings | None, pool: Pool, kafka: KafkaSettings
) -> AsyncIterator[None]:
    """Serve /metrics and the probes beside a service for as long as it runs."""
    if ops is None or not ops.enabled:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(serve_ops(ops.port, ops.host, pool, kafka.bootstrap, stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def _retry_until_connected(
    what: str, attempt: Callable[[], Awaitable[None]], stop: asyncio.Event
) -> bool:
    """Run `attempt` until the broker (or database) answers; False if asked to stop first.

    A broker or database that is down at start is an outage like any other: wait it out (with
    the probes saying why) instead of crash-looping.
    """
    delay = 1.0
    while not stop.is_set():
        try:
            await attempt()
        except (KafkaConnectionError, psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("%s: dependency unavailable (%s); retrying in %.0fs", what, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
        else:
            return True
    return False


async def collector_service(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    config: CollectorConfig,
    stop: asyncio.Event,
    once: bool = False,
    window: tuple[datetime, datetime] | None = None,
    ops: OpsSettings | None = None,
) -> int:
    async with make_pool(database, "collector") as pool, _ops_endpoints(ops, pool, kafka):
        if not await _retry_until_connected("collector", lambda: ensure_topics(kafka), stop):
            return 0
        producer = EventProducer(kafka)
        if not await _retry_until_connected("collector", producer.start, stop):
            return 0
        try:
            return await run_collector(
                config, producer, CollectorState(pool), once=once, window=window, stop=stop
            )
        finally:
            await producer.stop()


async def aggregator_service(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    settings: AggregatorSettings,
    stop: asyncio.Event,
    idle_exit_seconds: float | None = None,
    ops: OpsSettings | None = None,
) -> int:
    async with make_pool(database, "aggregator") as pool, _ops_endpoints(ops, pool, kafka):
        if not await _retry_until_connected("aggregator", lambda: ensure_topics(kafka), stop):
            return 0
        aggregator = Aggregator(kafka, settings, pool)
        tune_garbage_collector()
        if not await _retry_until_connected("aggregator", aggregator.detect_rollup_mode, stop):
            return 0
        if not await _retry_until_connected("aggregator", aggregator.start, stop):
            return 0
        try:
            await aggregator.run(stop, idle_exit_seconds=idle_exit_seconds)
        finally:
            await aggregator.stop()
        return aggregator.stats.events


async def api_service(
    database: DatabaseSettings,
    api: ApiSettings,
    stop: asyncio.Event,
    kafka: KafkaSettings | None = None,
) -> None:
    app = create_app(database, api, kafka)
    server = EmbeddedServer(
        # Outside the application so that requests the router refuses are logged too.
        uvicorn.Config(
            access_log_middleware(app),
            host=api.host,
            port=api.port,
            log_level="warning",
            lifespan="on",
        )
    )
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    stopping.cancel()
