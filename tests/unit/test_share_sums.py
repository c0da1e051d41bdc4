"""Property: the namespace and workload parts of a cluster add up to the cluster total to the
micro-unit, in both cost modes, for any allocation step the collector maps.

The collector gives each allocation its share of the window's idle pool (`__idle__`,
`__unmounted__`) by the largest-remainder rule on integer micro-units (shared/apportion.py), so
no micro-unit is made or lost by the split. Steps are generated the way Kubecost answers with
`aggregate=pod`: several hourly windows, pods of a few workloads in a few namespaces, costs with
five decimals (zero and negative ones included, as credits and empty pods produce), and idle
pools that may be negative after adjustments.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.collector.allocations import MappingReport, map_step
from services.collector.config import parse_config
from shared.events import AllocationEvent

CONFIG = parse_config(
    {
        "clusters": [
            {"name": "shares", "base_url": "http://kubecost.test", "id": str(uuid.UUID(int=7))}
        ]
    }
)
CLUSTER = CONFIG.clusters[0]
HOUR = datetime(2026, 2, 1, tzinfo=UTC)
NAMESPACES = ("web", "payments", "ml", "kube-system")
CONTROLLERS = ("api", "worker", "db")


def _money(units: int) -> str:
    """Kubecost's five decimals, as the JSON text the collector decodes to a Decimal."""
    return str(Decimal(units).scaleb(-5))


def _allocation(name: str, hour: int, units: int, props: dict[str, str]) -> dict[str, Any]:
    start = HOUR + timedelta(hours=hour)
    return {
        "name": name,
        "properties": props,
        "window": {
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "cpuCost": Decimal(_money(units)),
        "totalCost": Decimal(_money(units)),
    }


costs = st.one_of(st.just(0), st.integers(min_value=-500, max_value=500), st.integers(0, 10**8))


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    """One response step: its allocations may span several windows (one per hour)."""
    step: dict[str, Any] = {}
    for hour in range(draw(st.integers(min_value=1, max_value=3))):
        pods = draw(st.integers(min_value=1, max_value=12))
        for pod in range(pods):
            namespace = draw(st.sampled_from(NAMESPACES))
            controller = draw(st.sampled_from(CONTROLLERS))
            props = {
                "cluster": "shares",
                "namespace": namespace,
                "controllerKind": "deployment",
                "controller": controller,
                "pod": f"{controller}-{pod}",
            }
            name = f"{namespace}/{controller}-{pod}@{hour}"
            step[name] = _allocation(name, hour, draw(costs), props)
        for pool in ("__idle__", "__unmounted__"):
            if draw(st.booleans()):
                name = f"{pool}@{hour}" if hour else pool
                step[name] = _allocation(
                    pool if not hour else f"h{hour}/{pool}", hour, draw(costs), {}
                )
    return step


def _sums(
    events: Iterable[AllocationEvent], key: Any
) -> dict[tuple[datetime, Hashable], tuple[int, int]]:
    out: dict[tuple[datetime, Hashable], list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        part = key(e)
        if part is None:
            continue
        sums = out[(e.window_start, part)]
        sums[0] += e.cost + e.idle_share
        sums[1] += e.cost
    return {k: (v[0], v[1]) for k, v in out.items()}


def _by_window(
    parts: dict[tuple[datetime, Hashable], tuple[int, int]],
) -> dict[datetime, tuple[int, int]]:
    out: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for (window, _), (full, only) in parts.items():
        out[window][0] += full
        out[window][1] += only
    return {k: (v[0], v[1]) for k, v in out.items()}


@settings(max_examples=300, deadline=None, database=None)
@given(step=steps())
def test_namespace_and_workload_parts_add_up_to_the_cluster_in_both_modes(
    step: dict[str, Any],
) -> None:
    events = map_step(step, CLUSTER, CONFIG, {}, HOUR, MappingReport())
    assert len(events) == len(step)
    # The cluster's totals per window: fully loaded is every cost Kubecost reported, idle pool
    # included; workload only is what the workloads themselves cost.
    cluster: dict[datetime, tuple[int, int]] = {}
    for window in {e.window_start for e in events}:
        rows = [e for e in events if e.window_start == window]
        cluster[window] = (
            sum(e.total_cost for e in rows),
            sum(e.total_cost for e in rows if not e.kind.is_idle_pool),
        )
    namespaces = _sums(events, lambda e: e.namespace or None)
    workloads = _sums(events, lambda e: e.workload_uid)
    assert _by_window(namespaces) == cluster
    assert _by_window(workloads) == cluster
