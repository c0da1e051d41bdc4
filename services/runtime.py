"""What every service's long-lived process does: signals, ops endpoints, waiting out outages.

SIGTERM and SIGINT set one stop event; each service drains what it is doing and returns, so the
process exits 0 (what Kubernetes expects from a clean rollout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
from aiokafka.errors import KafkaConnectionError
from psycopg_pool import PoolTimeout

from services.ops_server import serve_ops
from shared.db.pool import Pool
from shared.settings import (
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
async def ops_endpoints(
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


async def retry_until_connected(
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
