"""The Litestar application: one factory wiring controllers, errors, the pool and OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, get
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from services.api.auth import KeyCache
from services.api.controllers.cost_trend import CostTrendController
from services.api.controllers.finops_analysis import FinOpsAnalysisController
from services.api.controllers.finops_costs import FinOpsCostsController
from services.api.controllers.finops_dashboard import FinOpsDashboardController
from services.api.controllers.finops_efficiency import FinOpsEfficiencyController
from services.api.controllers.finops_export import FinOpsExportController
from services.api.controllers.finops_health import FinOpsHealthController
from services.api.errors import (
    ApiError,
    handle_api_error,
    handle_http_exception,
    handle_unexpected,
    request_id_of,
)
from services.api.finops.answer_cache import AnswerCache
from services.api.finops.model_refresh import refresh_forever
from services.api.finops.modelling import preload_models
from services.api.finops.openapi import DecimalAsNumber
from services.api.finops.pipeline_lag import LagReader
from services.api.rate_limit import RateLimiter
from shared.db.pool import make_pool
from shared.logs import bind_log_context
from shared.metrics import API_METRICS_PREFIX
from shared.settings import ApiSettings, DatabaseSettings, KafkaSettings


@get("/healthz", operation_id="liveness", tags=["health"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@get("/readyz", operation_id="readiness", tags=["health"])
async def readyz(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Readiness: the database answers."""
    async with request.app.state.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return {"status": "ready"}


class MetricsController(PrometheusController):
    """The Prometheus scrape endpoint: text exposition format for the scraper, so it stays out
    of the OpenAPI document, which describes the JSON API (it declared JSON here)."""

    include_in_schema = False


async def _request_id_header(request: Request[Any, Any, Any]) -> None:
    bind_log_context(request_id=request_id_of(request))


def create_app(
    database: DatabaseSettings, api: ApiSettings, kafka: KafkaSettings | None = None
) -> Litestar:
    pool = make_pool(database, "api", timeout=api.database_timeout_seconds)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await pool.open(wait=False)
        app.state.pool = pool
        app.state.currency = api.currency
        app.state.rate_limiter = RateLimiter(api.rate_limit_per_minute)
        app.state.key_cache = KeyCache(api.key_cache_seconds)
        app.state.answer_cache = AnswerCache(api.answer_cache_entries)
        app.state.lag_reader = LagReader(kafka)
        preload_models()
        refresher = None
        if api.model_refresh_seconds > 0:
            refresher = asyncio.create_task(refresh_forever(pool, api.model_refresh_seconds))
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            await pool.close()

    metrics = PrometheusConfig(
        app_name="costpipe-api",
        prefix=API_METRICS_PREFIX,
        group_path=True,  # label by route template, not by raw path: bounded cardinality
        buckets=[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        exclude=["/metrics"],
    )
    return Litestar(
        middleware=[metrics.middleware],
        route_handlers=[
            MetricsController,
            healthz,
            readyz,
            CostTrendController,
            FinOpsCostsController,
            FinOpsDashboardController,
            FinOpsAnalysisController,
            FinOpsHealthController,
            FinOpsEfficiencyController,
            FinOpsExportController,
        ],
        lifespan=[lifespan],
        plugins=[DecimalAsNumber()],
        before_request=_request_id_header,
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        logging_config=None,  # the CLI configured logging for the whole process
        openapi_config=OpenAPIConfig(title="costpipe API", version="0.1.0", path="/schema"),
    )
