"""Collecting one cluster: fetch a chunk, map it, produce it, then move the watermark.

The order is what makes restarts safe: the watermark moves only after Kafka acknowledged every
event of the chunk (acks=all), so a crash at any point re-fetches at most one chunk and never skips
an hour; re-produced events carry the same ids and simply replace themselves downstream.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx

from services.collector.allocations import MappingReport, map_step
from services.collector.config import ClusterConfig, CollectorConfig
from services.collector.fetch import FetchError, KubecostClient, RetryPolicy
from services.collector.node_groups import node_groups_from_assets
from services.collector.producer import EventProducer
from services.collector.progress import NoProgress, Progress
from services.collector.state import CollectorState
from services.collector.stats import CollectorStats
from services.collector.windows import grid_chunks, plan_cycle
from shared.events import AllocationEvent

log = logging.getLogger(__name__)


class ClusterCollector:
    def __init__(
        self,
        cluster: ClusterConfig,
        config: CollectorConfig,
        http: httpx.AsyncClient,
        producer: EventProducer,
        state: CollectorState,
        *,
        stats: CollectorStats | None = None,
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.stats = stats or CollectorStats(cluster.name)
        self.client = KubecostClient(
            cluster, http, RetryPolicy.from_config(config), on_retry=self.stats.retry
        )
        self.producer = producer
        self.state = state
        self.progress: Progress = progress or NoProgress()
        self.stop = stop or asyncio.Event()

    async def collect_chunk(self, start: datetime, end: datetime) -> bool:
        """Fetch, map and produce one chunk; on a fetch failure record a gap and return False.

        Kafka and database errors propagate: they are not about this window, and the cycle
        must end without moving the watermark.
        """
        try:
            steps = await self.client.allocation_steps(start, end)
        except FetchError as exc:
            self.stats.error(exc.category)
            log.error(  # noqa: TRY400 - the reason says it all; no traceback
                "cluster %s: window %s..%s not collected after %d attempt(s): %s",
                self.cluster.name,
                start.isoformat(),
                end.isoformat(),
                exc.attempts,
                exc.reason,
            )
            await self.state.record_gap(self.cluster.id, start, end, exc.reason, exc.attempts)
            return False
        events, report = await self._map(steps, start, end)
        await self.producer.send_all(events)
        self.stats.fetched(len(events), report.invalid_numbers, datetime.now(UTC))
        await self.state.resolve_gaps(self.cluster.id, start, end)
        log.debug(
            "cluster %s: %s..%s produced %d events",
            self.cluster.name,
            start.isoformat(),
            end.isoformat(),
            len(events),
        )
        return True

    async def _map(
        self, steps: list[dict[str, object]], start: datetime, end: datetime
    ) -> tuple[list[AllocationEvent], MappingReport]:
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
        return events, report

    async def collect_range(self, start: datetime, end: datetime) -> bool:
        """An explicit range (no watermark): every chunk is tried; True if all succeeded."""
        chunks = grid_chunks(start, end, self.config.chunk_hours)
        ok = True
        self._begin(len(chunks), show=len(chunks) > 1)
        try:
            for chunk_start, chunk_end in chunks:
                if self.stop.is_set():
                    return False
                ok = await self.collect_chunk(chunk_start, chunk_end) and ok
                self.progress.advance(self.cluster.name)
        finally:
            self.progress.end(self.cluster.name)
        return ok

    async def cycle(self, now: datetime) -> None:
        """One pass: follow new hours (moving the watermark), re-poll the restatement window,
        then retry old gaps. A failed new chunk ends the pass: the source is probably down and
        the next pass starts from the same watermark."""
        self.stats.poll()
        watermark = await self.state.watermark(self.cluster.id)
        plan = plan_cycle(now, watermark, await self.state.open_gaps(self.cluster.id), self.config)
        self._begin(plan.windows, show=plan.catching_up)
        try:
            for chunk_start, chunk_end in plan.follow:
                if self.stop.is_set():
                    return
                fetched = await self.collect_chunk(chunk_start, chunk_end)
                self.progress.advance(self.cluster.name)
                if not fetched:
                    return
                await self.state.advance(self.cluster.id, chunk_end)
                self.stats.advanced(chunk_end)
            for chunk_start, chunk_end in plan.restate + plan.retry:
                if self.stop.is_set():
                    return
                await self.collect_chunk(chunk_start, chunk_end)
                self.progress.advance(self.cluster.name)
        finally:
            self.progress.end(self.cluster.name)
        if plan.catching_up:
            log.info(
                "cluster %s: caught up to %s (%d windows)",
                self.cluster.name,
                plan.target.isoformat(),
                plan.windows,
            )

    def _begin(self, total: int, *, show: bool) -> None:
        if show:
            self.progress.begin(self.cluster.name, total)
