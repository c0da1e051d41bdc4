"""GET /api/v1/finops/data-health: coverage, gaps, last ingested hour and pipeline lag."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from litestar import Controller, Request, get
from litestar.params import Parameter

from services.api.finops import openapi as doc
from services.api.finops.answer_cache import answer_cache
from services.api.finops.data_health import HOUR, Coverage, GapOccurrence, cluster_health
from services.api.finops.health_schemas import (
    ClusterHealthItem,
    DataHealth,
    GapHistoryItem,
    HealingFetch,
    HealthWindow,
    MissingHours,
    PartitionLagItem,
    PipelineHealth,
)
from services.api.finops.pipeline_lag import LagReader
from services.api.finops.response import NumberResponse
from services.api.finops.scope import finops_principal, load_scope
from services.api.finops.windows import Span, parse_window
from shared.db.pool import Pool
from shared.db.retention import GAP_HISTORY
from shared.timewindows import floor_hour, isoformat_z

DEFAULT_WINDOW = "7d"
# Fixed rather than the `window`: the history is for seeing how often and how long a source
# failed, which a short window (24h) would hide, and it costs one small indexed read.


def _z(moment: datetime | None) -> str | None:
    return None if moment is None else isoformat_z(moment)


def _health_window(start: datetime, end: datetime) -> HealthWindow:
    return HealthWindow(isoformat_z(start), isoformat_z(end), int((end - start) / HOUR))


def _gap_item(gap: GapOccurrence) -> GapHistoryItem:
    healed_by = None
    # Gaps healed before the history was kept have a heal time but no known healing fetch.
    if gap.healed_by_start is not None and gap.healed_by_end is not None and gap.healed_by_fetch:
        healed_by = HealingFetch(
            _health_window(gap.healed_by_start, gap.healed_by_end), gap.healed_by_fetch
        )
    return GapHistoryItem(
        status="open" if gap.healed_at is None else "healed",
        window=_health_window(gap.start, gap.end),
        reason=gap.reason,
        attempts=gap.attempts,
        opened_at=isoformat_z(gap.opened_at),
        last_failed_at=isoformat_z(gap.last_failed_at),
        healed_at=_z(gap.healed_at),
        healed_by=healed_by,
    )


class FinOpsHealthController(Controller):
    path = "/api/v1/finops"
    tags = ["finops"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    response_class = NumberResponse

    @get(
        "/data-health",
        operation_id="getFinopsDataHealth",
        summary="Hours covered per cluster, the gaps and why, and the pipeline's consumer lag",
        responses=doc.ERRORS,
    )
    async def data_health(
        self,
        request: Request[Any, Any, Any],
        window: str | None = Parameter(
            query="window",
            required=False,
            description="Hours to check, ending at the last complete hour (default 7d).",
        ),
    ) -> DataHealth:
        principal = await finops_principal(request)
        length = parse_window("window", window, DEFAULT_WINDOW)
        now = datetime.now(UTC)
        end = floor_hour(now)
        span = Span(length.back_from(end), end)
        pool: Pool = request.app.state.pool
        answers = answer_cache(request)
        async with pool.connection() as conn:
            scope = await load_scope(conn, principal)
            key = answers.key("data-health", (span.start, span.end), scope, now)
            clusters, held = await cluster_health(
                conn,
                scope,
                span,
                history_since=now - GAP_HISTORY,
                coverage=answers.get(key, Coverage),
            )
        answers.put(key, held)
        reader: LagReader = request.app.state.lag_reader
        lag = await reader.read()
        expected = sum(c.expected_hours for c in clusters)
        covered = sum(c.covered_hours for c in clusters)
        coverage = (
            (Decimal(covered * 100) / Decimal(expected)).quantize(Decimal("0.01"))
            if expected
            else Decimal(100)
        )
        if not clusters:
            status = "no_data"
        elif covered < expected or lag.status != "ok":
            status = "degraded"
        else:
            status = "healthy"
        return DataHealth(
            status=status,
            window=HealthWindow(
                isoformat_z(span.start), isoformat_z(span.end), int((span.end - span.start) / HOUR)
            ),
            coverage_percent=coverage,
            clusters=[
                ClusterHealthItem(
                    cluster_id=str(c.cluster_id),
                    name=c.name,
                    expected_hours=c.expected_hours,
                    covered_hours=c.covered_hours,
                    coverage_percent=c.coverage_percent,
                    last_ingested_window_end=_z(c.last_ingested_end),
                    collector_watermark=_z(c.watermark),
                    open_collector_gaps=c.open_gaps,
                    gaps=[
                        MissingHours(
                            isoformat_z(m.start),
                            isoformat_z(m.end),
                            m.hours,
                            m.reason,
                            m.attempts,
                        )
                        for m in c.missing
                    ],
                    gap_history=[_gap_item(g) for g in c.gap_history],
                )
                for c in clusters
            ],
            pipeline=PipelineHealth(
                status=lag.status,
                consumer_lag=lag.total,
                partitions=[
                    PartitionLagItem(p.partition, p.end_offset, p.committed_offset, p.lag)
                    for p in lag.partitions
                ],
                reason=lag.reason,
            ),
        )
