"""Mapping of one Kubecost/OpenCost allocation step to `AllocationEvent`s.

This is where the two cost modes are born: costs no workload owns (`__idle__`, `__unmounted__`)
are split over the step's workloads in proportion to their cost, exactly, so that every event
carries both its own cost and its share of the idle pool.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.collector.config import ClusterConfig, CollectorConfig
from services.collector.kubecost_response import number, string_map, text
from shared.apportion import apportion
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationEvent, AllocationKind
from shared.ids import allocation_event_id, workload_uid
from shared.money import to_micros
from shared.timewindows import utc

SPECIAL_SUFFIXES = {
    "__idle__": AllocationKind.IDLE,
    "__unallocated__": AllocationKind.UNALLOCATED,
    "__unmounted__": AllocationKind.UNMOUNTED,
}

# Cost components: Kubecost's TotalCost() adds each component's adjustment to the component.
_COMPONENTS = {
    "cpu_cost": ("cpuCost", "cpuCostAdjustment"),
    "gpu_cost": ("gpuCost", "gpuCostAdjustment"),
    "ram_cost": ("ramCost", "ramCostAdjustment"),
    "pv_cost": ("pvCost", "pvCostAdjustment"),
    "network_cost": ("networkCost", "networkCostAdjustment"),
    "load_balancer_cost": ("loadBalancerCost", "loadBalancerCostAdjustment"),
    "shared_cost": ("sharedCost",),
    "external_cost": ("externalCost",),
}
_USAGE = {
    "minutes": "minutes",
    "cpu_core_hours": "cpuCoreHours",
    "cpu_core_request_average": "cpuCoreRequestAverage",
    "cpu_core_usage_average": "cpuCoreUsageAverage",
    "ram_byte_hours": "ramByteHours",
    "ram_byte_request_average": "ramByteRequestAverage",
    "ram_byte_usage_average": "ramByteUsageAverage",
    "gpu_hours": "gpuHours",
    "gpu_request_average": "gpuRequestAverage",
    "gpu_usage_average": "gpuUsageAverage",
}


@dataclass
class MappingReport:
    """What the mapping had to repair, for logs and metrics."""

    invalid_numbers: int = 0
    skipped: list[str] = field(default_factory=list)


def sanitize_label_key(key: str) -> str:
    """Kubecost's form of a label key (`app.kubernetes.io/name` -> `app_kubernetes_io_name`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def pick_label(labels: Mapping[str, str], keys: Iterable[str]) -> str:
    for key in keys:
        for candidate in (key, sanitize_label_key(key)):
            value = labels.get(candidate)
            if value:
                return value
    return ""


def kind_of(name: str) -> AllocationKind:
    for suffix, kind in SPECIAL_SUFFIXES.items():
        if name == suffix or name.endswith("/" + suffix):
            return kind
    return AllocationKind.WORKLOAD


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def parse_window(allocation: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """The step's window of an allocation or asset: `window` first (the hour asked for, even when
    the object existed only part of it), else the object's own `start`/`end`."""
    window = allocation.get("window")
    start = end = None
    if isinstance(window, dict):
        start, end = _parse_time(window.get("start")), _parse_time(window.get("end"))
    start = start or _parse_time(allocation.get("start"))
    end = end or _parse_time(allocation.get("end"))
    if start is None or end is None or end <= start:
        return None
    return start, end


class _Numbers:
    def __init__(self, report: MappingReport) -> None:
        self.report = report

    def get(self, allocation: Mapping[str, Any], key: str) -> Decimal:
        if key not in allocation or allocation[key] is None:
            return Decimal(0)
        value = number(allocation[key])
        if value is None:
            self.report.invalid_numbers += 1
            return Decimal(0)
        return value


def map_step(
    step: Mapping[str, Any],
    cluster: ClusterConfig,
    config: CollectorConfig,
    node_groups: Mapping[str, str],
    produced_at: datetime,
    report: MappingReport,
) -> list[AllocationEvent]:
    """Events for one step; the idle pool of each window is split over that window's workloads."""
    numbers = _Numbers(report)
    drafts: list[dict[str, Any]] = []
    for key, allocation in step.items():
        if not isinstance(allocation, dict):
            report.skipped.append(f"{key}: not an object")
            continue
        name = text(allocation.get("name")) or str(key)
        window = parse_window(allocation)
        if window is None:
            report.skipped.append(f"{name}: no valid window")
            continue
        properties = allocation.get("properties")
        props: Mapping[str, Any] = properties if isinstance(properties, dict) else {}
        labels = string_map(props.get("labels"))
        namespace = text(props.get("namespace"))
        controller_kind = text(props.get("controllerKind"))
        controller = text(props.get("controller"))
        pod = text(props.get("pod"))
        node = text(props.get("node"))
        kind = kind_of(name)
        uid: uuid.UUID | None = None
        if kind is AllocationKind.WORKLOAD and namespace and (controller or pod):
            uid = workload_uid(cluster.id, namespace, controller_kind or "pod", controller or pod)
        components = {
            field_name: to_micros(sum((numbers.get(allocation, k) for k in keys), Decimal(0)))
            for field_name, keys in _COMPONENTS.items()
        }
        total = to_micros(numbers.get(allocation, "totalCost"))
        usage = {f: float(numbers.get(allocation, k)) for f, k in _USAGE.items()}
        drafts.append(
            {
                "name": name,
                "window_start": window[0],
                "window_end": window[1],
                "kind": kind,
                "namespace": namespace,
                "controller_kind": controller_kind,
                "controller": controller,
                "pod": pod,
                "container": text(props.get("container")),
                "node": node,
                "node_group": node_groups.get(node, ""),
                "workload_uid": uid,
                "service": pick_label(labels, config.service_labels),
                "team": pick_label(labels, config.team_labels),
                "owner": pick_label(labels, config.owner_labels),
                "total_cost": total,
                "cost": 0 if kind.is_idle_pool else total,
                "idle_share": 0,
                **components,
                **usage,
            }
        )
    _share_idle(drafts)
    return [
        AllocationEvent(
            schema_version=ALLOCATION_SCHEMA_VERSION,
            event_id=allocation_event_id(cluster.id, d["window_start"], d["name"]),
            organization_id=cluster.organization_id,
            cluster_id=cluster.id,
            cluster_name=cluster.name,
            produced_at=produced_at,
            **d,
        )
        for d in drafts
    ]


def _share_idle(drafts: list[dict[str, Any]]) -> None:
    """Split each window's idle pool over its other rows in proportion to their cost.

    When a window has no row to carry it (only idle), the idle rows keep their own cost as their
    `idle_share`, so the fully loaded total of the window is still the sum of `total_cost`.
    """
    by_window: dict[tuple[datetime, datetime], list[dict[str, Any]]] = {}
    for draft in drafts:
        by_window.setdefault((draft["window_start"], draft["window_end"]), []).append(draft)
    for rows in by_window.values():
        pool_rows = [r for r in rows if r["kind"].is_idle_pool]
        if not pool_rows:
            continue
        carriers = [r for r in rows if not r["kind"].is_idle_pool]
        pool = sum(r["total_cost"] for r in pool_rows)
        shares = apportion(pool, [r["cost"] for r in carriers])
        if shares is None:
            for row in pool_rows:
                row["idle_share"] = row["total_cost"]
            continue
        for row, share in zip(carriers, shares, strict=True):
            row["idle_share"] = share
