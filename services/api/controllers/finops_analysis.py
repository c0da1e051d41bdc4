"""GET /api/v1/finops/costs/forecast, /costs/anomalies and /costs/realtime.

Same conventions as the other FinOps handlers: authenticate first (401/403 before any parameter
is looked at), validate, then read within the key's organization and allow-list. The database
connection is given back before the slow part (model fitting, asking Kubecost), so a long
forecast never holds one of the pool's few connections.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec

from services.api.errors import ErrorEnvelope
from services.api.finops import analysis_params, realtime_params
from services.api.finops import openapi as doc
from services.api.finops.analysis_schemas import CostAnomalies, CostForecast, RealtimeCosts
from services.api.finops.anomaly_report import anomalies_for
from services.api.finops.answer_cache import answer_cache
from services.api.finops.forecast_report import forecast_for
from services.api.finops.model_refresh import ModelQuestion, remember
from services.api.finops.params import label
from services.api.finops.realtime import timeout_for
from services.api.finops.realtime_report import (
    ask_all,
    configured,
    kubecost_query,
    realtime_costs,
    targets,
)
from services.api.finops.response import NumberResponse
from services.api.finops.scope import finops_principal, load_scope
from shared.db.pool import Pool

REALTIME_ERRORS = {
    **doc.ERRORS,
    503: ResponseSpec(
        data_container=ErrorEnvelope,
        description="A cluster's Kubecost did not answer, no Kubecost is configured, or the cost "
        "database is unavailable (SERVICE_UNAVAILABLE); details.clusters names the clusters",
    ),
}


def _pool(request: Request[Any, Any, Any]) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


class FinOpsAnalysisController(Controller):
    path = "/api/v1/finops/costs"
    tags = ["finops"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    response_class = NumberResponse

    @get(
        "/forecast",
        operation_id="getFinopsCostForecast",
        summary="Monthly cost forecast with 95 % bounds, from a statsmodels model",
        responses=doc.ERRORS,
    )
    async def forecast(
        self,
        request: Request[Any, Any, Any],
        months: str | None = doc.query(
            "months", "Months to predict, the current one first: 1 to 12 (default 3)."
        ),
        model: str | None = doc.query(
            "model",
            "auto (default: the lowest AICc of the others), linear, holt_winters, ets or arima.",
        ),
    ) -> CostForecast:
        principal = await finops_principal(request)
        count = analysis_params.months(months)
        chosen = analysis_params.model(model)
        now = datetime.now(UTC)
        pool = _pool(request)
        async with pool.connection() as conn:
            scope = await load_scope(conn, principal)

        async def fitted() -> CostForecast:
            await remember(pool, ModelQuestion.forecast(scope, count, chosen), scope)
            return await forecast_for(pool, scope, count, chosen, now)

        return await answer_cache(request).through(
            "costs/forecast", (count, chosen), scope, now, fitted, CostForecast
        )

    @get(
        "/anomalies",
        operation_id="getFinopsCostAnomalies",
        summary="Days whose cost departs from trend and weekly pattern (robust STL)",
        responses=doc.ERRORS,
    )
    async def anomalies(
        self,
        request: Request[Any, Any, Any],
        days: str | None = doc.query(
            "days", "Complete days to examine, ending yesterday: 1 to 365 (default 30)."
        ),
        threshold: str | None = doc.query(
            "threshold", "Robust z-score a day must exceed: above 0, at most 100 (default 2.0)."
        ),
    ) -> CostAnomalies:
        principal = await finops_principal(request)
        count = analysis_params.days(days)
        limit = analysis_params.threshold(threshold)
        now = datetime.now(UTC)
        pool = _pool(request)
        async with pool.connection() as conn:
            scope = await load_scope(conn, principal)

        async def judged() -> CostAnomalies:
            await remember(pool, ModelQuestion.anomalies(scope, count, limit), scope)
            return await anomalies_for(pool, scope, count, limit, now)

        return await answer_cache(request).through(
            "costs/anomalies", (count, limit), scope, now, judged, CostAnomalies
        )

    @get(
        "/realtime",
        operation_id="getFinopsRealtimeCosts",
        summary="Costs read from the clusters' Kubecost now (cached 30 s)",
        responses=REALTIME_ERRORS,
    )
    async def realtime(
        self,
        request: Request[Any, Any, Any],
        window: str | None = doc.query(
            "window",
            "Nh (1-744) or Nd (1-90), or today, yesterday, week, lastweek, month, lastmonth. "
            "Default 1d.",
        ),
        aggregate: str | None = doc.query(
            "aggregate",
            "namespace (default), cluster, node, controller, controllerKind, deployment, "
            "statefulset, daemonset, job, pod, container, service, team, owner, department, "
            "environment, product or label:<key>.",
        ),
        namespace: str | None = doc.query("namespace", "Only this Kubernetes namespace."),
        cluster_id: str | None = doc.query(
            "clusterId", "Ask this cluster only (default: every cluster the key can see)."
        ),
    ) -> RealtimeCosts:
        principal = await finops_principal(request)
        span = realtime_params.window(window)
        grouping = realtime_params.aggregate(aggregate)
        only = label("namespace", namespace)
        chosen = realtime_params.cluster_id(cluster_id)
        config = configured()
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
        asked = targets(config.clusters, principal, scope, chosen)
        answers = await ask_all(asked, kubecost_query(span, grouping, only), timeout_for(config))
        return realtime_costs(asked, answers, span, grouping, only)
