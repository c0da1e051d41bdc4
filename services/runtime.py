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

from services.ops_server import Readiness, serve_ops
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
    ops: OpsSettings | None, pool: Pool, kafka: KafkaSettings, readiness: Readiness | None = None
) -> AsyncIterator[None]:
    """Serve /metrics and the probes beside a service for as long as it runs; `readiness`
    holds the service's own reasons for not being ready."""
    if ops is None or not ops.enabled:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_ops(ops.port, ops.host, pool, kafka.bootstrap, stop, readiness or Readiness())
    )
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
            if not await unless_stopped(attempt(), stop):
                return False
        except (KafkaConnectionError, psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("%s: dependency unavailable (%s); retrying in %.0fs", what, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
        else:
            return True
    return False


async def unless_stopped(work: Awaitable[object], stop: asyncio.Event, grace: float = 0.0) -> bool:
    """Run `work` to its end (True), or, once `stop` is set, give it `grace` seconds more and
    then cancel it (False): a broker that takes a connection but never answers must not hold up
    a shutdown. What `work` raises is raised here."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done() and grace > 0:
        await asyncio.wait({task}, timeout=grace)
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False
