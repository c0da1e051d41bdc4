"""Mapping of one Kubecost/OpenCost allocation step to `AllocationEvent`s.

This is where the two cost modes are born: costs no workload owns (`__idle__`, `__unmounted__`)
are split over the step's workloads in proportion to their cost, exactly, so that every event
carries both its own cost and its share of the idle pool.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec

from services.collector.config import ClusterConfig, CollectorConfig
from services.collector.kubecost_schema import (
    Allocation,
    AllocationProperties,
    Asset,
    allocation_of,
)
from shared.apportion import apportion
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationEvent, AllocationKind
from shared.ids import event_ids_of_window, workload_uid
from shared.money import MICROS_PER_UNIT
from shared.timewindows import utc

SPECIAL_SUFFIXES = {
    "__idle__": AllocationKind.IDLE,
    "__unallocated__": AllocationKind.UNALLOCATED,
    "__unmounted__": AllocationKind.UNMOUNTED,
}


@dataclass
class MappingReport:
    """What the mapping had to repair, for logs and metrics."""

    invalid_numbers: int = 0
    skipped: list[str] = field(default_factory=list)


@functools.cache
def sanitize_label_key(key: str) -> str:
    """Kubecost's form of a label key (`app.kubernetes.io/name` -> `app_kubernetes_io_name`).
    Cached: the configured keys are few and asked for every allocation."""
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


@functools.lru_cache(maxsize=4096)
def _parse_time(value: str | None) -> datetime | None:
    """Cached: every allocation of a step names the same hour."""
    if not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def parse_window(item: Allocation | Asset) -> tuple[datetime, datetime] | None:
    """The step's window of an allocation or asset: `window` first (the hour asked for, even when
    the object existed only part of it), else the object's own `start`/`end`."""
    window = item.window
    start = end = None
    if window is not None:
        start, end = _parse_time(window.start), _parse_time(window.end)
    start = start or _parse_time(item.start)
    end = end or _parse_time(item.end)
    if start is None or end is None or end <= start:
        return None
    return start, end


_ZERO = Decimal(0)
_NO_PROPERTIES = AllocationProperties()
_is_finite = Decimal.is_finite


@functools.cache
def _label_candidates(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The label keys `pick_label` tries, in its order, worked out once per configured tuple."""
    return tuple(c for key in keys for c in (key, sanitize_label_key(key)))


def _label(labels: Mapping[str, str], candidates: tuple[str, ...]) -> str:
    for candidate in candidates:
        value = labels.get(candidate)
        if value:
            return value
    return ""


def _micros(amount: Decimal) -> int:
    """`to_micros` of a finite amount (the mapping has checked), with zero short-cut."""
    return (
        int((amount * MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN)) if amount else 0
    )


def _numbers(a: Allocation, report: MappingReport) -> list[Decimal]:
    """The allocation's money amounts in `Allocation` order, null or absent as 0 and invalid
    (counted) as 0."""
    numbers = [
        _ZERO if v is None else v
        for v in (
            a.cpu_cost,
            a.cpu_cost_adjustment,
            a.gpu_cost,
            a.gpu_cost_adjustment,
            a.ram_cost,
            a.ram_cost_adjustment,
            a.pv_cost,
            a.pv_cost_adjustment,
            a.network_cost,
            a.network_cost_adjustment,
            a.load_balancer_cost,
            a.load_balancer_cost_adjustment,
            a.shared_cost,
            a.external_cost,
            a.total_cost,
        )
    ]
    if all(map(_is_finite, numbers)):
        return numbers
    report.invalid_numbers += sum(1 for v in numbers if not v.is_finite())
    return [v if v.is_finite() else _ZERO for v in numbers]


def _quantities(a: Allocation, report: MappingReport) -> list[float]:
    """The allocation's usage, null or absent as 0.0 and invalid (counted) as 0.0."""
    quantities = [
        0.0 if v is None else v
        for v in (
            a.minutes,
            a.cpu_core_hours,
            a.cpu_core_request_average,
            a.cpu_core_usage_average,
            a.ram_byte_hours,
            a.ram_byte_request_average,
            a.ram_byte_usage_average,
            a.gpu_hours,
            a.gpu_request_average,
            a.gpu_usage_average,
        )
    ]
    if not any(map(math.isnan, quantities)):
        return quantities
    report.invalid_numbers += sum(1 for v in quantities if math.isnan(v))
    return [0.0 if math.isnan(v) else v for v in quantities]


def map_step(
    step: Mapping[str, Any],
    cluster: ClusterConfig,
    config: CollectorConfig,
    node_groups: Mapping[str, str],
    produced_at: datetime,
    report: MappingReport,
) -> list[AllocationEvent]:
    """Events for one step; the idle pool of each window is split over that window's workloads.

    The step's values are `Allocation`s (typed decoding) or dicts (the tolerant decoding, and
    tests), converted here. This runs for every allocation of every hour, so it is written for
    speed: events are built once, their idle share set afterwards only where there is one."""
    service_keys = _label_candidates(config.service_labels)
    team_keys = _label_candidates(config.team_labels)
    owner_keys = _label_candidates(config.owner_labels)
    ids: dict[datetime, Callable[[str], uuid.UUID]] = {}
    events: list[AllocationEvent] = []
    for key, value in step.items():
        a = allocation_of(value)
        if a is None:
            report.skipped.append(f"{key}: not an object")
            continue
        name = a.name or str(key)
        window = parse_window(a)
        if window is None:
            report.skipped.append(f"{name}: no valid window")
            continue
        props = a.properties or _NO_PROPERTIES
        labels = props.labels or {}
        namespace = props.namespace or ""
        controller_kind = props.controller_kind or ""
        controller = props.controller or ""
        pod = props.pod or ""
        node = props.node or ""
        kind = kind_of(name) if name.endswith("__") else AllocationKind.WORKLOAD
        uid: uuid.UUID | None = None
        if kind is AllocationKind.WORKLOAD and namespace and (controller or pod):
            uid = workload_uid(cluster.id, namespace, controller_kind or "pod", controller or pod)
        (
            cpu,
            cpu_adjustment,
            gpu,
            gpu_adjustment,
            ram,
            ram_adjustment,
            pv,
            pv_adjustment,
            network,
            network_adjustment,
            load_balancer,
            load_balancer_adjustment,
            shared,
            external,
            total_amount,
        ) = _numbers(a, report)
        usage = _quantities(a, report)
        event_id = ids.get(window[0])
        if event_id is None:
            event_id = ids[window[0]] = event_ids_of_window(cluster.id, window[0])
        total = _micros(total_amount)
        # Each component is 0 + cost + adjustment, in that order, as Kubecost's TotalCost() adds.
        events.append(
            AllocationEvent(
                schema_version=ALLOCATION_SCHEMA_VERSION,
                event_id=event_id(name),
                organization_id=cluster.organization_id,
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                produced_at=produced_at,
                name=name,
                window_start=window[0],
                window_end=window[1],
                kind=kind,
                namespace=namespace,
                controller_kind=controller_kind,
                controller=controller,
                pod=pod,
                container=props.container or "",
                node=node,
                node_group=node_groups.get(node, ""),
                workload_uid=uid,
                service=_label(labels, service_keys),
                team=_label(labels, team_keys),
                owner=_label(labels, owner_keys),
                total_cost=total,
                cost=0 if kind.is_idle_pool else total,
                idle_share=0,
                cpu_cost=_micros(_ZERO + cpu + cpu_adjustment),
                gpu_cost=_micros(_ZERO + gpu + gpu_adjustment),
                ram_cost=_micros(_ZERO + ram + ram_adjustment),
                pv_cost=_micros(_ZERO + pv + pv_adjustment),
                network_cost=_micros(_ZERO + network + network_adjustment),
                load_balancer_cost=_micros(_ZERO + load_balancer + load_balancer_adjustment),
                shared_cost=_micros(_ZERO + shared),
                external_cost=_micros(_ZERO + external),
                minutes=usage[0],
                cpu_core_hours=usage[1],
                cpu_core_request_average=usage[2],
                cpu_core_usage_average=usage[3],
                ram_byte_hours=usage[4],
                ram_byte_request_average=usage[5],
                ram_byte_usage_average=usage[6],
                gpu_hours=usage[7],
                gpu_request_average=usage[8],
                gpu_usage_average=usage[9],
            )
        )
    return _share_idle(events)


def _share_idle(events: list[AllocationEvent]) -> list[AllocationEvent]:
    """Split each window's idle pool over its other rows in proportion to their cost.

    When a window has no row to carry it (only idle), the idle rows keep their own cost as their
    `idle_share`, so the fully loaded total of the window is still the sum of `total_cost`.
    """
    by_window: dict[tuple[datetime, datetime], list[int]] = {}
    for index, event in enumerate(events):
        by_window.setdefault((event.window_start, event.window_end), []).append(index)
    for rows in by_window.values():
        pool_rows = [i for i in rows if events[i].kind.is_idle_pool]
        if not pool_rows:
            continue
        carriers = [i for i in rows if not events[i].kind.is_idle_pool]
        pool = sum(events[i].total_cost for i in pool_rows)
        shares = apportion(pool, [events[i].cost for i in carriers])
        if shares is None:
            for i in pool_rows:
                events[i] = msgspec.structs.replace(events[i], idle_share=events[i].total_cost)
            continue
        for i, share in zip(carriers, shares, strict=True):
            events[i] = msgspec.structs.replace(events[i], idle_share=share)
    return events
