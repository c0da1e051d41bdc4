"""Reading one cluster's Kubecost allocation API on request, with a short cache.

Money is read from the JSON text as `Decimal` (kubecost_response.decode_json) and only added,
never passed through a binary float, so totals are Kubecost's own numbers summed exactly. A
component includes its adjustment, as Kubecost's own `TotalCost()` does.

The cache (CACHE_SECONDS per cluster, window and aggregation) is there because dashboards poll:
Kubecost computes allocations on the fly and a burst of identical requests should cost it one
query. Failures are not cached, so a Kubecost that comes back is seen at the next request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from services.collector.config import ClusterConfig, CollectorConfig
from services.collector.kubecost_response import KubecostResponseError, number, steps_of, text

TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 30.0
CACHE_ENTRIES = 512
COMPONENTS = {
    "cpu": ("cpuCost", "cpuCostAdjustment"),
    "ram": ("ramCost", "ramCostAdjustment"),
    "gpu": ("gpuCost", "gpuCostAdjustment"),
    "pv": ("pvCost", "pvCostAdjustment"),
    "network": ("networkCost", "networkCostAdjustment"),
    "load_balancer": ("loadBalancerCost", "loadBalancerCostAdjustment"),
    "shared": ("sharedCost",),
    "external": ("externalCost",),
}
# Each efficiency and the cost it is a ratio of, for merging several steps of one allocation.
EFFICIENCIES = {
    "cpu": ("cpuEfficiency", ("cpu",)),
    "ram": ("ramEfficiency", ("ram",)),
    "total": ("totalEfficiency", ("cpu", "ram")),
}


class KubecostUnavailable(Exception):
    """Kubecost could not be asked, or did not answer with allocations."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Query:
    """What is sent to Kubecost: the window and the aggregation, as validated."""

    window: str
    aggregate: str


def _amount(allocation: Mapping[str, Any], key: str) -> Decimal:
    return number(allocation.get(key)) or Decimal(0)


@dataclass
class Allocation:
    """One allocation name's costs, summed over the steps Kubecost returned."""

    name: str
    costs: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, Decimal(0)))
    total: Decimal = Decimal(0)
    ratios: dict[str, list[tuple[Decimal, Decimal]]] = field(
        default_factory=lambda: {k: [] for k in EFFICIENCIES}
    )

    def add(self, allocation: Mapping[str, Any]) -> None:
        parts = {
            component: sum((_amount(allocation, key) for key in keys), Decimal(0))
            for component, keys in COMPONENTS.items()
        }
        for component, value in parts.items():
            self.costs[component] += value
        self.total += _amount(allocation, "totalCost")
        for metric, (key, bases) in EFFICIENCIES.items():
            ratio = number(allocation.get(key))
            if ratio is not None:
                self.ratios[metric].append((ratio, sum((parts[b] for b in bases), Decimal(0))))

    def efficiency(self, metric: str) -> Decimal | None:
        """Kubecost's ratio; over several steps, their mean weighted by the cost they rate."""
        ratios = self.ratios[metric]
        if len(ratios) == 1:
            return ratios[0][0]
        weight = sum((w for _, w in ratios), Decimal(0))
        if not ratios or weight <= 0:
            return None
        return sum((r * w for r, w in ratios), Decimal(0)) / weight


@dataclass(frozen=True)
class ClusterAnswer:
    allocations: tuple[Allocation, ...]
    window_start: str | None
    window_end: str | None
    fetched_at: datetime


def allocations_of(steps: Iterable[Mapping[str, Any]]) -> tuple[Allocation, ...]:
    merged: dict[str, Allocation] = {}
    for step in steps:
        for key, allocation in step.items():
            if not isinstance(allocation, dict):
                continue
            name = text(allocation.get("name")) or str(key)
            merged.setdefault(name, Allocation(name)).add(allocation)
    return tuple(merged.values())


def _window_edges(steps: Iterable[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    starts, ends = [], []
    for step in steps:
        for allocation in step.values():
            window = allocation.get("window") if isinstance(allocation, dict) else None
            if isinstance(window, dict):
                starts.append(text(window.get("start")))
                ends.append(text(window.get("end")))
    starts, ends = [s for s in starts if s], [e for e in ends if e]
    return (min(starts) if starts else None, max(ends) if ends else None)


class AnswerCache:
    """Answers per (cluster, URL, window, aggregation) for `ttl` seconds, in this process."""

    def __init__(self, ttl: float = CACHE_SECONDS, max_entries: int = CACHE_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[object, ...], tuple[float, ClusterAnswer]] = {}

    def get(self, key: tuple[object, ...]) -> ClusterAnswer | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: tuple[object, ...], answer: ClusterAnswer) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, answer)


CACHE = AnswerCache()


def timeout_for(config: CollectorConfig) -> float:
    """The collector's request timeout, at most TIMEOUT_SECONDS: a person is waiting."""
    return min(config.request_timeout_seconds, TIMEOUT_SECONDS)


async def fetch(
    http: httpx.AsyncClient,
    cluster: ClusterConfig,
    query: Query,
    wait_seconds: float = TIMEOUT_SECONDS,
    cache: AnswerCache = CACHE,
) -> ClusterAnswer:
    """The cluster's allocations for the query, accumulated over the window, idle included."""
    url = cluster.base_url + cluster.allocation_path
    key: tuple[object, ...] = (cluster.id, url, query.window, query.aggregate)
    cached = cache.get(key)
    if cached is not None:
        return cached
    params = {
        "window": query.window,
        "aggregate": query.aggregate,
        "accumulate": "true",
        "includeIdle": "true",
    }
    headers = {"Authorization": cluster.auth_header} if cluster.auth_header else {}
    try:
        # httpx's timeout bounds each phase (connect, each read); this bounds the whole answer.
        async with asyncio.timeout(wait_seconds):
            response = await http.get(url, params=params, headers=headers)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise KubecostUnavailable(f"gave no answer within {wait_seconds:g} s") from exc
    except httpx.HTTPError as exc:
        raise KubecostUnavailable(f"is unreachable ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise KubecostUnavailable(f"answered HTTP {response.status_code}")
    try:
        steps = steps_of(response.content)
    except KubecostResponseError as exc:
        raise KubecostUnavailable(f"gave an unusable answer: {exc}") from exc
    answer = ClusterAnswer(allocations_of(steps), *_window_edges(steps), datetime.now(UTC))
    cache.put(key, answer)
    return answer


def new_client(wait_seconds: float = TIMEOUT_SECONDS) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=wait_seconds, follow_redirects=False)
