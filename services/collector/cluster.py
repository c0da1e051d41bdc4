"""Collecting one cluster: fetch a chunk, map it, produce it, then move the watermark.

The order is what makes restarts safe: the watermark moves only after Kafka acknowledged every
event of the chunk on both topics, allocations and assets (acks=all), and of every chunk before
it, so a crash never skips an hour; re-produced events carry the same ids and simply replace
themselves downstream. New hours are followed in a pipeline (`pipeline.follow`): the next chunk is
fetched while the previous ones are acknowledged, so a crash re-fetches the few chunks in flight.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from services.collector.allocations import MappingReport, map_step
from services.collector.assets import map_asset_step
from services.collector.config import ClusterConfig, CollectorConfig
from services.collector.fetch import FetchError, KubecostClient, RetryPolicy
from services.collector.kubecost_schema import AllocationStep, AssetStep
from services.collector.node_groups import node_groups_from_assets
from services.collector.pipeline import Window, follow
from services.collector.producer import Acknowledgement, EventProducer
from services.collector.state import CollectorState
from services.collector.stats import CollectorStats
from services.collector.windows import grid_chunks, plan_cycle
from shared.asset_events import AssetCostEvent
from shared.events import AllocationEvent
from shared.logs import log_context
from shared.progress import NoProgress, Progress

log = logging.getLogger(__name__)
S = TypeVar("S")


@dataclass(frozen=True)
class Chunk:
    """One fetched and mapped chunk, between its fetch and its acknowledgement."""

    start: datetime
    end: datetime
    fetch_id: str
    events: list[AllocationEvent]
    asset_events: list[AssetCostEvent]
    report: MappingReport
    assets_error: FetchError | None


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

        One assets request serves both the node groups of the allocations and the asset cost
        events. When only the assets fail, the allocations still flow (their node groups left
        empty, as without an assets API) and True is returned so the watermark moves on; the
        window is recorded as a gap (reason `assets: ...`) and fetched again, both APIs, by the
        restatement or gap-retry pass until it succeeds. Kafka and database errors propagate:
        they are not about this window, and the cycle must end without moving the watermark.

        Each call is one fetch with an id of its own, bound to every log line it writes (field
        `fetch`) and stored on the gaps it heals, so a heal shown by data-health leads to its logs.
        """
        chunk = await self._prepare((start, end))
        if chunk is None:
            return False
        await self.producer.send_chunk(chunk.events, chunk.asset_events)
        await self._complete(chunk)
        return True

    async def _prepare(self, window: Window) -> Chunk | None:
        """Fetch and map one chunk (both APIs at once); None after recording a gap when the
        allocations could not be fetched."""
        start, end = window
        chunk_id = uuid.uuid4().hex[:16]
        with log_context(window=f"{start.isoformat()}/{end.isoformat()}", fetch=chunk_id):
            allocations, assets = await asyncio.gather(
                _steps_or_error(self.client.allocation_steps, window),
                _steps_or_error(self.client.asset_steps, window),
            )
            if isinstance(allocations, FetchError):
                await self._record_gap(start, end, allocations, "")
                return None
            asset_steps: list[AssetStep]
            asset_steps, assets_error = (
                ([], assets) if isinstance(assets, FetchError) else (assets, None)
            )
            report = MappingReport()
            produced_at = datetime.now(UTC)
            events = self._map(allocations, asset_steps, produced_at, report)
            asset_events = [
                event
                for step in asset_steps
                for event in map_asset_step(step, self.cluster, produced_at, report)
            ]
            self._report(report)
        return Chunk(start, end, chunk_id, events, asset_events, report, assets_error)

    async def _complete(self, chunk: Chunk) -> None:
        """After the chunk's acknowledgement: count it, heal the gaps it covers (or record the
        assets gap)."""
        start, end = chunk.start, chunk.end
        with log_context(window=f"{start.isoformat()}/{end.isoformat()}", fetch=chunk.fetch_id):
            self.stats.fetched(
                len(chunk.events),
                chunk.report.invalid_numbers,
                datetime.now(UTC),
                assets=len(chunk.asset_events),
            )
            if chunk.assets_error is None:
                healed = await self.state.resolve_gaps(self.cluster.id, start, end, chunk.fetch_id)
                for gap in healed:
                    log.info(
                        "cluster %s: gap %s..%s (%s, %d attempt(s), opened %s) healed by fetch %s"
                        " of %s..%s",
                        self.cluster.name,
                        gap.start.isoformat(),
                        gap.end.isoformat(),
                        gap.reason,
                        gap.attempts,
                        gap.opened_at.isoformat(),
                        chunk.fetch_id,
                        start.isoformat(),
                        end.isoformat(),
                    )
            else:
                await self._record_gap(start, end, chunk.assets_error, "assets")
            log.debug(
                "cluster %s: %s..%s produced %d allocation and %d asset events",
                self.cluster.name,
                start.isoformat(),
                end.isoformat(),
                len(chunk.events),
                len(chunk.asset_events),
            )

    async def _record_gap(self, start: datetime, end: datetime, exc: FetchError, api: str) -> None:
        """`api` is "" for the allocations (the window is missing) or "assets" (node costs and
        node groups are missing); it prefixes the metric reason and the recorded reason."""
        prefix = f"{api}: " if api else ""
        self.stats.error(f"{api}_{exc.category}" if api else exc.category)
        log.error(
            "cluster %s: %swindow %s..%s not collected after %d attempt(s): %s",
            self.cluster.name,
            prefix,
            start.isoformat(),
            end.isoformat(),
            exc.attempts,
            exc.reason,
        )
        await self.state.record_gap(self.cluster.id, start, end, prefix + exc.reason, exc.attempts)

    def _map(
        self,
        steps: list[AllocationStep],
        asset_steps: list[AssetStep],
        produced_at: datetime,
        report: MappingReport,
    ) -> list[AllocationEvent]:
        node_groups = node_groups_from_assets(asset_steps)
        return [
            event
            for step in steps
            for event in map_step(step, self.cluster, self.config, node_groups, produced_at, report)
        ]

    def _report(self, report: MappingReport) -> None:
        if report.invalid_numbers or report.skipped:
            log.warning(
                "cluster %s: %d invalid numbers counted as zero, %d objects skipped: %s",
                self.cluster.name,
                report.invalid_numbers,
                len(report.skipped),
                "; ".join(report.skipped[:5]),
            )

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
            followed = await follow(
                plan.follow, self._prepare, self._submit, self._advance, stop=self.stop
            )
            if not followed or self.stop.is_set():
                return
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

    async def _submit(self, chunk: Chunk) -> Acknowledgement:
        return await self.producer.submit_chunk(chunk.events, chunk.asset_events)

    async def _advance(self, window: Window, chunk: Chunk) -> None:
        """A followed chunk is acknowledged (and so are all before it): move the watermark."""
        await self._complete(chunk)
        self.progress.advance(self.cluster.name)
        await self.state.advance(self.cluster.id, window[1])
        self.stats.advanced(window[1])

    def _begin(self, total: int, *, show: bool) -> None:
        if show:
            self.progress.begin(self.cluster.name, total)


async def _steps_or_error(
    fetch: Callable[[datetime, datetime], Coroutine[Any, Any, list[S]]], window: Window
) -> list[S] | FetchError:
    """A fetch's steps, or the FetchError it ended with (any other error propagates). The
    request is made here, so a fetch cancelled before it started leaves no coroutine behind."""
    try:
        return await fetch(*window)
    except FetchError as exc:
        return exc
