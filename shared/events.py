"""Kafka event schemas: what the collector produces and the aggregator consumes.

Events are msgspec Structs encoded once as JSON. `schema_version` lets the aggregator refuse
versions it does not know (to the dead-letter topic) instead of guessing; unknown fields are
ignored on decode so a newer collector can add fields without breaking an older aggregator.
Money fields are integer micro-units (see `shared.money`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import msgspec

ALLOCATION_SCHEMA_VERSION = 1


class AllocationKind(StrEnum):
    """What an allocation row stands for; decides how its cost enters the two cost modes."""

    WORKLOAD = "workload"
    IDLE = "idle"
    UNALLOCATED = "unallocated"
    UNMOUNTED = "unmounted"

    @property
    def is_idle_pool(self) -> bool:
        """Costs no workload owns: spread over the window's workloads as `idle_share`."""
        return self in (AllocationKind.IDLE, AllocationKind.UNMOUNTED)


class AllocationEvent(msgspec.Struct, kw_only=True, frozen=True):
    """One allocation of one cluster over one window, as reported by Kubecost/OpenCost.

    `cost` is what the workload itself costs (0 for idle-pool rows); `idle_share` is its share of
    the window's idle pool, so `cost + idle_share` summed over a window equals the sum of
    `total_cost` over that window, and `fully_loaded = cost + idle_share` at every rollup level.
    """

    schema_version: int = ALLOCATION_SCHEMA_VERSION
    event_id: uuid.UUID
    organization_id: uuid.UUID
    cluster_id: uuid.UUID
    cluster_name: str
    window_start: datetime
    window_end: datetime
    name: str
    kind: AllocationKind = AllocationKind.WORKLOAD
    namespace: str = ""
    controller_kind: str = ""
    controller: str = ""
    pod: str = ""
    container: str = ""
    node: str = ""
    node_group: str = ""
    workload_uid: uuid.UUID | None = None
    service: str = ""
    team: str = ""
    owner: str = ""
    cpu_cost: int = 0
    gpu_cost: int = 0
    ram_cost: int = 0
    pv_cost: int = 0
    network_cost: int = 0
    load_balancer_cost: int = 0
    shared_cost: int = 0
    external_cost: int = 0
    total_cost: int = 0
    cost: int = 0
    idle_share: int = 0
    minutes: float = 0.0
    cpu_core_hours: float = 0.0
    cpu_core_request_average: float = 0.0
    cpu_core_usage_average: float = 0.0
    ram_byte_hours: float = 0.0
    ram_byte_request_average: float = 0.0
    ram_byte_usage_average: float = 0.0
    gpu_hours: float = 0.0
    gpu_request_average: float = 0.0
    gpu_usage_average: float = 0.0
    produced_at: datetime


_encoder = msgspec.json.Encoder()


def encode_event(event: AllocationEvent) -> bytes:
    return _encoder.encode(event)


class AllocationDecoder:
    """One decoder built once and reused: decoding is the aggregator's hottest path."""

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(AllocationEvent)

    def decode(self, payload: bytes) -> AllocationEvent:
        return self._decoder.decode(payload)
