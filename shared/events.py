"""Kafka event schemas: what the collector produces and the aggregator consumes.

Events are msgspec Structs encoded once as JSON. `schema_version` lets the aggregator refuse
versions it does not know (to the dead-letter topic) instead of guessing; unknown fields are
ignored on decode so a newer collector can add fields without breaking an older aggregator.
Money fields are integer micro-units (see `shared.money`).

A field equal to its default is left out of the JSON (`omit_defaults`) and decoded as that
default: most allocations have no GPU, no volume, no labels, and a third fewer bytes is a third
less to store, fetch and decode. `schema_version` has no default, so it is always written: an
event's version is never inferred from what a reader's own default happens to be
(docs/decisions/0010-compact-events.md).

The bounds an event must respect are part of its type so that the decoder checks them in C, on
the aggregator's hot path; constructing an event in Python does not check them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

import msgspec

ALLOCATION_SCHEMA_VERSION = 1
MAX_WINDOW = timedelta(days=31)
# Ten million a window: far above any real allocation, and low enough that the rollups' bigint
# sums cannot overflow even over a year of thousands of such rows.
MAX_MONEY = 10**13
# Bounds on the quantities the rollups turn into integer core-hours and KiB-hours (a million
# cores or GPUs, an exabyte of RAM, a 31-day window): within them no product overflows a bigint.
MAX_MINUTES = MAX_WINDOW.total_seconds() / 60
MAX_UNITS = 1e6
MAX_UNIT_HOURS = 1e12
MAX_BYTES = 1e18
MAX_BYTE_HOURS = 1e24

Money = Annotated[int, msgspec.Meta(ge=-MAX_MONEY, le=MAX_MONEY)]
# A NaN fails both bounds (JSON has none anyway); msgspec refuses an overflowing 1e999 itself.
Minutes = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_MINUTES)]
Units = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_UNITS)]
UnitHours = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_UNIT_HOURS)]
Bytes = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_BYTES)]
ByteHours = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_BYTE_HOURS)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


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


class AllocationEvent(msgspec.Struct, kw_only=True, frozen=True, gc=False, omit_defaults=True):
    """One allocation of one cluster over one window, as reported by Kubecost/OpenCost.

    `cost` is what the workload itself costs (0 for idle-pool rows); `idle_share` is its share of
    the window's idle pool, so `cost + idle_share` summed over a window equals the sum of
    `total_cost` over that window, and `fully_loaded = cost + idle_share` at every rollup level.
    Untracked by the cyclic GC (`gc=False`): its fields are scalars, strings, UUIDs and datetimes,
    none of which can refer back to it, and the aggregator holds whole batches of them.
    """

    schema_version: int
    event_id: uuid.UUID
    organization_id: uuid.UUID
    cluster_id: uuid.UUID
    cluster_name: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    name: NonEmpty
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
    cpu_cost: Money = 0
    gpu_cost: Money = 0
    ram_cost: Money = 0
    pv_cost: Money = 0
    network_cost: Money = 0
    load_balancer_cost: Money = 0
    shared_cost: Money = 0
    external_cost: Money = 0
    total_cost: Money = 0
    cost: Money = 0
    idle_share: Money = 0
    minutes: Minutes = 0.0
    cpu_core_hours: UnitHours = 0.0
    cpu_core_request_average: Units = 0.0
    cpu_core_usage_average: Units = 0.0
    ram_byte_hours: ByteHours = 0.0
    ram_byte_request_average: Bytes = 0.0
    ram_byte_usage_average: Bytes = 0.0
    gpu_hours: UnitHours = 0.0
    gpu_request_average: Units = 0.0
    gpu_usage_average: Units = 0.0
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
