"""The collector loop: per cluster, backfill, follow new hours, and re-poll recent ones.

Each cluster runs in its own task and its failures stay its own: a cluster whose Kubecost is down
records a gap and retries next cycle while the others keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx

from services.collector.allocations import MappingReport, map_step
from services.collector.config import ClusterConfig, CollectorConfig
from services.collector.fetch import FetchError, KubecostClient, RetryPolicy
from services.collector.node_groups import node_groups_from_assets
from services.collector.producer import EventProducer
from services.collector.state import CollectorState
from shared.timewindows import floor_hour

log = logging.getLogger(__name__)


def chunks(start: datetime, end: datetime, hours: int) -> Iterator[tuple[datetime, datetime]]:
    step = timedelta(hours=hours)
    cursor = start
    while cursor < end:
        yield cursor, min(cursor + step, end)
        cursor += step


class ClusterCollector:
    def __init__(
        self,
        cluster: ClusterConfig,
        config: CollectorConfig,
        http: httpx.AsyncClient,
        producer: EventProducer,
        state: CollectorState,
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.client = KubecostClient(cluster, http, RetryPolicy(max_attempts=config.max_attempts))
        self.producer = producer
        self.state = state
        self.events_produced = 0

    async def collect_chunk(self, start: datetime, end: datetime) -> bool:
        """Fetch, map and produce one chunk; on failure record a gap and return False."""
        try:
            steps = await self.client.allocation_steps(start, end)
        except FetchError as exc:
            log.error(  # noqa: TRY400 - the reason says it all; no traceback
                "cluster %s: window %s..%s not collected: %s",
                self.cluster.name,
                start.isoformat(),
                end.isoformat(),
                exc.reason,
            )
            await self.state.record_gap(self.cluster.id, start, end, exc.reason, exc.attempts)
            return False
        try:
            node_groups = node_groups_from_assets(await self.client.asset_steps(start, end))
        except FetchError as exc:
            log.warning(
                "cluster %s: assets for %s..%s unavailable (%s); node groups left empty",
                self.cluster.name,
                start.isoformat(),
                end.isoformat(),
                exc.reason,
            )
            node_groups = {}
        report = MappingReport()
        produced_at = datetime.now(UTC)
        events = [
            event
            for step in steps
            for event in map_step(step, self.cluster, self.config, node_groups, produced_at, report)
        ]
        if report.invalid_numbers or report.skipped:
            log.warning(
                "cluster %s: %d invalid numbers counted as zero, %d allocations skipped: %s",
                self.cluster.name,
                report.invalid_numbers,
                len(report.skipped),
                "; ".join(report.skipped[:5]),
            )
        await self.producer.send_all(events)
        self.events_produced += len(events)
        await self.state.resolve_gaps(self.cluster.id, start, end)
        log.info(
            "cluster %s: %s..%s produced %d events",
            self.cluster.name,
            start.isoformat(),
            end.isoformat(),
            len(events),
        )
        return True

    async def collect_range(self, start: datetime, end: datetime) -> bool:
        ok = True
        for chunk_start, chunk_end in chunks(start, end, self.config.chunk_hours):
            ok = await self.collect_chunk(chunk_start, chunk_end) and ok
        return ok

    async def cycle(self, now: datetime) -> None:
        """One pass: re-poll the trailing restatement window, then follow new hours."""
        target = floor_hour(now)
        watermark = await self.state.watermark(self.cluster.id)
        if watermark is None:
            watermark = target - timedelta(days=self.config.backfill_days)
        restate_from = target - timedelta(hours=self.config.restatement_hours)
        if restate_from < watermark:
            await self.collect_range(restate_from, watermark)
        for chunk_start, chunk_end in chunks(watermark, target, self.config.chunk_hours):
            if not await self.collect_chunk(chunk_start, chunk_end):
                break
            await self.state.advance(self.cluster.id, chunk_end)


async def run_collector(
    config: CollectorConfig,
    producer: EventProducer,
    state: CollectorState,
    once: bool = False,
    window: tuple[datetime, datetime] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until `stop` is set (or once). Returns the number of events produced."""
    stop = stop or asyncio.Event()
    timeout = httpx.Timeout(config.request_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout) as http:
        collectors = [ClusterCollector(c, config, http, producer, state) for c in config.clusters]
        for collector in collectors:
            await state.register(collector.cluster, config.organization_name)

        async def run_one(collector: ClusterCollector) -> None:
            while not stop.is_set():
                try:
                    if window is not None:
                        await collector.collect_range(*window)
                    else:
                        await collector.cycle(datetime.now(UTC))
                except Exception:  # one cluster's bug must not stop the others
                    log.exception("cluster %s: collection cycle failed", collector.cluster.name)
                if once or window is not None:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=config.poll_interval_seconds)

        await asyncio.gather(*(run_one(c) for c in collectors))
        return sum(c.events_produced for c in collectors)
