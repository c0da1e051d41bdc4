"""Running each service as a long-lived process: signals, pools, clean shutdown.

SIGTERM and SIGINT set one stop event; each service drains what it is doing and returns, so the
process exits 0 (what Kubernetes expects from a clean rollout).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from datetime import datetime

import uvicorn

from services.aggregator.consumer import Aggregator
from services.api.app import create_app
from services.collector.config import CollectorConfig
from services.collector.producer import EventProducer
from services.collector.runner import run_collector
from services.collector.state import CollectorState
from shared.db.pool import make_pool
from shared.kafka import ensure_topics
from shared.settings import AggregatorSettings, ApiSettings, DatabaseSettings, KafkaSettings


class _EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves signals to us: one stop event stops every service in the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def collector_service(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    config: CollectorConfig,
    stop: asyncio.Event,
    once: bool = False,
    window: tuple[datetime, datetime] | None = None,
) -> int:
    await ensure_topics(kafka)
    producer = EventProducer(kafka)
    await producer.start()
    try:
        async with make_pool(database, "collector") as pool:
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
) -> int:
    await ensure_topics(kafka)
    async with make_pool(database, "aggregator") as pool:
        aggregator = Aggregator(kafka, settings, pool)
        await aggregator.start()
        try:
            await aggregator.run(stop, idle_exit_seconds=idle_exit_seconds)
        finally:
            await aggregator.stop()
        return aggregator.stats.events


async def api_service(database: DatabaseSettings, api: ApiSettings, stop: asyncio.Event) -> None:
    app = create_app(database, api)
    server = _EmbeddedServer(
        uvicorn.Config(app, host=api.host, port=api.port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    stopping.cancel()
