"""GET /api/v1/finops/costs/efficiency and /costs/savings, per spec/finops-costs-api.md.

Same conventions as the other FinOps handlers: authenticate first (401/403 before any parameter
is looked at), validate, then read the rollups within the key's organization and allow-list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get

from services.api.finops import openapi as doc
from services.api.finops import savings_params
from services.api.finops.answer_cache import answer_cache
from services.api.finops.efficiency_report import aggregate, cost_efficiency
from services.api.finops.efficiency_schemas import CostEfficiency, CostSavings
from services.api.finops.params import label
from services.api.finops.response import NumberResponse
from services.api.finops.savings_report import cost_savings
from services.api.finops.scope import finops_principal, load_scope
from services.api.finops.windows import parse_window
from shared.db.pool import Pool


def _pool(request: Request[Any, Any, Any]) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


class FinOpsEfficiencyController(Controller):
    path = "/api/v1/finops/costs"
    tags = ["finops"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    response_class = NumberResponse

    @get(
        "/efficiency",
        operation_id="getFinopsCostEfficiency",
        summary="CPU, RAM and GPU usage over request per group, cost-weighted as in Kubecost",
        responses=doc.ERRORS,
    )
    async def efficiency(
        self,
        request: Request[Any, Any, Any],
        window: str | None = doc.window("30d"),
        namespace: str | None = doc.query("namespace", "Only this Kubernetes namespace."),
        aggregate_: str | None = doc.query(
            "aggregate",
            "cluster, namespace, workload, node_group, service, team (or org), owner (or user)."
            " Default namespace.",
        ),
    ) -> CostEfficiency:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        chosen = parse_window("window", window, "30d")
        only = label("namespace", namespace)
        grouping = aggregate(aggregate_)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "costs/efficiency",
                (chosen.text, grouping, only),
                scope,
                now,
                lambda: cost_efficiency(conn, scope, chosen, grouping, only, now),
                CostEfficiency,
            )

    @get(
        "/savings",
        operation_id="getFinopsCostSavings",
        summary="Rightsizing, abandoned-workload and idle-GPU recommendations, monthly amounts",
        responses=doc.ERRORS,
    )
    async def savings(
        self,
        request: Request[Any, Any, Any],
        category: str | None = doc.query("category", "rightsizing, abandoned or idle_gpu."),
        min_savings: str | None = doc.query(
            "minSavings", "Only recommendations saving at least this much a month (>= 0)."
        ),
    ) -> CostSavings:
        principal = await finops_principal(request)
        now = datetime.now(UTC)
        chosen = savings_params.category(category)
        floor = savings_params.min_savings(min_savings)
        async with _pool(request).connection() as conn:
            scope = await load_scope(conn, principal)
            return await answer_cache(request).through(
                "costs/savings",
                (chosen, floor),
                scope,
                now,
                lambda: cost_savings(conn, scope, chosen, floor, now),
                CostSavings,
            )
