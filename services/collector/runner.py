"""The collector process: one task per cluster, each polling on its own schedule.

A cluster's failures stay its own: a Kubecost that is down records a gap and is tried again next
cycle, and any other exception (Kafka, database, a bug) is logged and counted for that cluster
while the others keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import psycopg
from aiokafka.errors import KafkaError
from psycopg_pool import PoolTimeout

from services.collector.cluster import ClusterCollector
from services.collector.config import CollectorConfig
from services.collector.producer import EventProducer
from services.collector.state import CollectorState
from services.collector.stats import CollectorStats
from services.ops_server import Readiness
from services.runtime import unless_stopped
from shared.logs import bind_log_context
from shared.progress import Progress, progress_for

log = logging.getLogger(__name__)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def failure_reason(exc: BaseException) -> str:
    """The metric label for an exception that ended a cluster's cycle."""
    if isinstance(exc, KafkaError):
        return "kafka"
    if isinstance(exc, psycopg.Error | PoolTimeout):
        return "database"
    return "internal"


def http_client(config: CollectorConfig) -> httpx.AsyncClient:
    """One client for all clusters (connection pooling); the timeout bounds each wait for the
    server (connect, each read), which is what a hung Kubecost trips."""
    return httpx.AsyncClient(timeout=httpx.Timeout(config.request_timeout_seconds))


class Collector:
    """Every configured cluster of one process. `stats` outlives a run, so a caller (or a
    metrics endpoint) can read what happened across runs."""

    def __init__(
        self,
        config: CollectorConfig,
        producer: EventProducer,
        state: CollectorState,
        *,
        clock: Callable[[], datetime] = _wall_clock,
        progress: Progress | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.config = config
        self.readiness = readiness or Readiness()
        self.producer = producer
        self.state = state
        self.clock = clock
        self.progress = progress
        self.stats = {c.id: CollectorStats(c.name) for c in config.clusters}

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        once: bool = False,
        window: tuple[datetime, datetime] | None = None,
    ) -> int:
        """Run until `stop` is set (or one cycle, or the explicit window). Returns the number of
        events produced by this run."""
        stop = stop or asyncio.Event()
        before = sum(s.events_produced for s in self.stats.values())
        progress = self.progress or progress_for(sys.stderr, self.config.progress_log_every)
        try:
            async with http_client(self.config) as http:
                collectors = [
                    ClusterCollector(
                        cluster,
                        self.config,
                        http,
                        self.producer,
                        self.state,
                        stats=self.stats[cluster.id],
                        progress=progress,
                        stop=stop,
                    )
                    for cluster in self.config.clusters
                ]
                await asyncio.gather(*(self._run_one(c, stop, once, window) for c in collectors))
        finally:
            if self.progress is None:
                progress.close()
        return sum(s.events_produced for s in self.stats.values()) - before

    async def _run_one(
        self,
        collector: ClusterCollector,
        stop: asyncio.Event,
        once: bool,
        window: tuple[datetime, datetime] | None,
    ) -> None:
        # Each cluster runs in a task of its own: every line it logs names the cluster.
        bind_log_context(cluster=collector.cluster.name, cluster_id=str(collector.cluster.id))
        registered = False
        while not stop.is_set():
            name = collector.cluster.name
            try:
                if not registered:
                    await self.state.register(collector.cluster, self.config.organization_name)
                    registered = True
                work = (
                    collector.collect_range(*window)
                    if window is not None
                    else collector.cycle(self.clock())
                )
                # Stopping, a cycle in flight gets a moment to finish; then it is abandoned (its
                # watermark did not move, so the next start fetches its windows again).
                if not await unless_stopped(work, stop, grace=STOP_GRACE_SECONDS):
                    log.warning("cluster %s: cycle in flight abandoned at stop", name)
                    return
                self.readiness.set(f"kafka:{name}", None)
            except Exception as exc:  # one cluster's failure must not stop the others
                reason = failure_reason(exc)
                collector.stats.error(reason)
                log.exception("cluster %s: collection cycle failed", name)
                if reason == "kafka":
                    self.readiness.set(
                        f"kafka:{name}",
                        f"collector: the broker refused the events of cluster {name} ({exc!r}); "
                        "retried every poll interval",
                    )
            if once or window is not None:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.config.poll_interval_seconds)


# Stopping: how long a collection cycle in flight may take to finish.
STOP_GRACE_SECONDS = 2.5


async def run_collector(
    config: CollectorConfig,
    producer: EventProducer,
    state: CollectorState,
    once: bool = False,
    window: tuple[datetime, datetime] | None = None,
    stop: asyncio.Event | None = None,
    readiness: Readiness | None = None,
) -> int:
    """Run until `stop` is set (or once). Returns the number of events produced."""
    collector = Collector(config, producer, state, readiness=readiness)
    return await collector.run(stop, once=once, window=window)
