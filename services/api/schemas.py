"""Response shapes, as msgspec Structs so Litestar encodes them fast and documents them."""

from __future__ import annotations

import msgspec


class Money(msgspec.Struct):
    amount: str
    currency: str


class CostTrendPoint(msgspec.Struct):
    bucket_start: str
    total_cost: Money


class ScopeRef(msgspec.Struct, omit_defaults=True):
    cluster_id: str
    namespace: str | None = None
    workload_uid: str | None = None
    node_group: str | None = None


class CostTrendSeries(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: str
    scope: str
    scope_ref: ScopeRef | None = None
    start: str
    end: str
    granularity: str
    type: str
    points: list[CostTrendPoint]
    excluded_cluster_ids: list[str]


class CostTrendMeta(msgspec.Struct, omit_defaults=True):
    request_id: str
    applied_at: str
    cost_mode: str | None = None


class CostTrendResponse(msgspec.Struct):
    data: CostTrendSeries
    meta: CostTrendMeta
