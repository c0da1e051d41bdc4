"""The asset cost event: one node, disk or load balancer of one cluster over one window.

Kept apart from `shared.events` (allocations) because it travels on its own topic and is versioned
on its own; the conventions are the same: a msgspec Struct encoded once as JSON, fields equal to
their default left out, `schema_version` always written and checked by the aggregator, unknown
fields ignored on decode, money in integer micro-units.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import msgspec

from shared.events import AwareDatetime, Money, NonEmpty

ASSET_SCHEMA_VERSION = 1


class AssetType(StrEnum):
    """The asset kinds rolled up as node costs; everything else the assets API lists is `other`."""

    NODE = "node"
    DISK = "disk"
    LOAD_BALANCER = "load_balancer"
    OTHER = "other"


class AssetCostEvent(msgspec.Struct, kw_only=True, frozen=True, gc=False, omit_defaults=True):
    """What one asset cost over one window, as Kubecost/OpenCost reported it.

    `asset_key` is the key of the asset in the response (provider/account/.../name), the only name
    that is unique across asset types. Component costs are Kubecost's own (before the node
    `discount`, a rate between 0 and 1), `total_cost` is Kubecost's `totalCost`, which already
    applies the discount and the `adjustment`; the quantities are averages over the window.
    Money may be negative (an adjustment or a credit) but is bounded like an allocation's; the
    decoder checks the bounds. Untracked by the cyclic GC for the same reason as allocations.
    """

    schema_version: int
    event_id: uuid.UUID
    organization_id: uuid.UUID
    cluster_id: uuid.UUID
    cluster_name: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    asset_key: NonEmpty
    asset_type: AssetType = AssetType.OTHER
    name: str = ""
    provider_id: str = ""
    node_group: str = ""
    cpu_cost: Money = 0
    ram_cost: Money = 0
    gpu_cost: Money = 0
    adjustment: Money = 0
    total_cost: Money = 0
    discount: float = 0.0
    cpu_cores: float = 0.0
    ram_bytes: float = 0.0
    gpu_count: float = 0.0
    bytes: float = 0.0
    minutes: float = 0.0
    produced_at: datetime


_encoder = msgspec.json.Encoder()


def encode_asset_event(event: AssetCostEvent) -> bytes:
    return _encoder.encode(event)


class AssetDecoder:
    """Built once and reused, like the allocation decoder."""

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(AssetCostEvent)

    def decode(self, payload: bytes) -> AssetCostEvent:
        return self._decoder.decode(payload)
