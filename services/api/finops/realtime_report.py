"""GET costs/realtime: which clusters to ask, asking them together, and the merged answer.

Clusters come from the collector's configuration (`load_config()`: the Kubecost URL and auth
header of each) and are asked only when the key may see them: the configured cluster must
belong to the key's organization, exist in the `cluster` table of that organization and pass
the key's allow-list. The answer is all or nothing: if any cluster asked cannot answer, the
request is 503 naming it, because a total that silently leaves a cluster out reads as a drop in
spend; `clusterId` asks one cluster alone.

Amounts are Kubecost's, rounded half-even to cents like every FinOps amount; the total is the
exact sum of the unrounded amounts, rounded once. Kubecost's idle pool (`__idle__`) is listed as
an item of its own (idle is requested, not shared out), so the items add up to the clusters'
bills. With `namespace`, Kubecost is asked to aggregate by namespace first (`namespace,<agg>`),
so the filter is exact whatever the aggregation and whichever Kubecost version answers; the
idle pool belongs to no namespace and is then left out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from services.api.auth import Principal
from services.api.errors import ApiError, validation_error
from services.api.finops.analysis_schemas import RealtimeCluster, RealtimeCosts, RealtimeItem
from services.api.finops.realtime import (
    COMPONENTS,
    Allocation,
    ClusterAnswer,
    KubecostUnavailable,
    Query,
    fetch,
    new_client,
)
from services.api.finops.scope import Scope
from services.collector.config import ClusterConfig, CollectorConfig, load_config
from shared.settings import SettingsError
from shared.timewindows import isoformat_z

log = logging.getLogger(__name__)

LIST_ITEMS = 100
OTHER_KEY, OTHER_NAME = "__other__", "Other"
CENT = Decimal("0.01")
RATIO = Decimal("0.0001")


@dataclass(frozen=True)
class Target:
    cluster: ClusterConfig
    name: str  # as the cost database knows it, like every other FinOps answer


def configured() -> CollectorConfig:
    """The collector's configuration; 503 when the API has no Kubecost connection configured."""
    try:
        return load_config()
    except SettingsError as exc:
        # The message can name server paths; it goes to the log, not to the caller.
        log.warning("realtime costs unavailable: %s", exc)
        raise ApiError(
            503,
            "SERVICE_UNAVAILABLE",
            "realtime costs are not configured on this server (no Kubecost connection)",
        ) from exc


def targets(
    clusters: Sequence[ClusterConfig],
    principal: Principal,
    scope: Scope,
    chosen: uuid.UUID | None,
) -> list[Target]:
    reachable = [
        Target(c, scope.cluster_names[c.id])
        for c in clusters
        if c.organization_id == principal.organization_id and c.id in scope.cluster_names
    ]
    reachable.sort(key=lambda t: (t.name, str(t.cluster.id)))
    if chosen is None:
        return reachable
    picked = [t for t in reachable if t.cluster.id == chosen]
    if not picked:
        allowed = [str(t.cluster.id) for t in reachable]
        raise validation_error(
            "'clusterId' is not a cluster with Kubecost configured that this key can see",
            parameter="clusterId",
            allowed=allowed,
        )
    return picked


def kubecost_query(window: str, aggregate: str, namespace: str | None) -> Query:
    if namespace is None or aggregate == "namespace":
        return Query(window, aggregate)
    return Query(window, f"namespace,{aggregate}")


def in_namespace(
    allocations: Sequence[Allocation], aggregate: str, namespace: str | None
) -> list[Allocation]:
    """The allocations of `namespace` (all without one), named as `aggregate` alone names them."""
    if namespace is None:
        return list(allocations)
    if aggregate == "namespace":
        return [a for a in allocations if a.name == namespace]
    prefix = namespace + "/"
    return [
        replace(a, name=a.name[len(prefix) :]) for a in allocations if a.name.startswith(prefix)
    ]


async def ask_all(
    targets: Sequence[Target], query: Query, wait_seconds: float
) -> list[ClusterAnswer]:
    async with new_client(wait_seconds) as http:
        results = await asyncio.gather(
            *(fetch(http, t.cluster, query, wait_seconds) for t in targets),
            return_exceptions=True,
        )
    failures = []
    answers = []
    for target, result in zip(targets, results, strict=True):
        if isinstance(result, KubecostUnavailable):
            failures.append(
                {
                    "cluster_id": str(target.cluster.id),
                    "cluster_name": target.name,
                    "reason": f"Kubecost {result.reason}",
                }
            )
        elif isinstance(result, BaseException):
            raise result
        else:
            answers.append(result)
    if failures:
        named = "; ".join(f"{f['cluster_name']}: {f['reason']}" for f in failures)
        raise ApiError(
            503,
            "SERVICE_UNAVAILABLE",
            f"realtime costs are unavailable ({named}); retry later, or ask the other "
            "clusters one by one with clusterId",
            {"clusters": failures},
            headers={"Retry-After": "30"},
        )
    return answers


def cents(value: Decimal) -> Decimal:
    rounded = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return rounded if rounded else abs(rounded)


def ratio(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(RATIO, rounding=ROUND_HALF_EVEN)


def _item(key: str, name: str, target: Target | None, allocation: Allocation) -> RealtimeItem:
    c = allocation.costs
    return RealtimeItem(
        group_key=key,
        name=name,
        cluster_id=None if target is None else str(target.cluster.id),
        cluster_name=None if target is None else target.name,
        cpu_cost=cents(c["cpu"]),
        ram_cost=cents(c["ram"]),
        gpu_cost=cents(c["gpu"]),
        pv_cost=cents(c["pv"]),
        network_cost=cents(c["network"]),
        load_balancer_cost=cents(c["load_balancer"]),
        shared_cost=cents(c["shared"]),
        external_cost=cents(c["external"]),
        total_cost=cents(allocation.total),
        cpu_efficiency=None if target is None else ratio(allocation.efficiency("cpu")),
        ram_efficiency=None if target is None else ratio(allocation.efficiency("ram")),
        efficiency=None if target is None else ratio(allocation.efficiency("total")),
    )


def items(pairs: Sequence[tuple[Target, Allocation]]) -> list[RealtimeItem]:
    """Largest first, LIST_ITEMS of them, the rest folded into one "Other" item (as in every
    FinOps list); allocations that cost exactly nothing are left out."""
    ordered = sorted(
        (p for p in pairs if p[1].total),
        key=lambda p: (-p[1].total, str(p[0].cluster.id), p[1].name),
    )
    shown = ordered[:LIST_ITEMS]
    result = [_item(f"{t.cluster.id}/{a.name}", a.name, t, a) for t, a in shown]
    rest = ordered[len(shown) :]
    if rest:
        other = Allocation(OTHER_NAME)
        for _, allocation in rest:
            for component in COMPONENTS:
                other.costs[component] += allocation.costs[component]
            other.total += allocation.total
        result.append(_item(OTHER_KEY, OTHER_NAME, None, other))
    return result


def realtime_costs(
    targets: Sequence[Target],
    answers: Sequence[ClusterAnswer],
    window: str,
    aggregate: str,
    namespace: str | None,
) -> RealtimeCosts:
    pairs: list[tuple[Target, Allocation]] = []
    clusters = []
    for target, answer in zip(targets, answers, strict=True):
        kept = in_namespace(answer.allocations, aggregate, namespace)
        pairs += [(target, a) for a in kept]
        clusters.append(
            RealtimeCluster(
                cluster_id=str(target.cluster.id),
                cluster_name=target.name,
                total_cost=cents(sum((a.total for a in kept), Decimal(0))),
                window_start=answer.window_start,
                window_end=answer.window_end,
                fetched_at=isoformat_z(answer.fetched_at),
            )
        )
    return RealtimeCosts(
        window=window,
        aggregate=aggregate,
        namespace=namespace,
        total_cost=cents(sum((a.total for _, a in pairs), Decimal(0))),
        clusters=clusters,
        items=items(pairs),
    )
