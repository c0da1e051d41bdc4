"""Response shapes of costs/efficiency and costs/savings.

costs/efficiency has no shape in the spec and follows the family's snake_case. costs/savings
keeps the spec's camelCase fields (`currentCost`, `potentialSavings`, ...) and names the fields it
adds the same way, so one object never mixes the two styles.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from services.api.finops.analysis_schemas import Rate
from services.api.finops.schemas import Amount

Quantity = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={
            "description": "A resource quantity (core-hours, GiB-hours, GPU-hours, cores, GiB or "
            "GPUs as the field says), 4 decimals, written as a JSON number.",
        }
    ),
]


class EfficiencyFigures(msgspec.Struct):
    cpu_efficiency: Rate | None
    ram_efficiency: Rate | None
    gpu_efficiency: Rate | None
    efficiency: Rate | None
    cpu_core_hours_requested: Quantity
    cpu_core_hours_used: Quantity
    ram_gib_hours_requested: Quantity
    ram_gib_hours_used: Quantity
    gpu_hours_requested: Quantity
    gpu_hours_used: Quantity
    cpu_cost: Amount
    ram_cost: Amount
    gpu_cost: Amount
    total_cost: Amount


class EfficiencyItem(EfficiencyFigures, kw_only=True):
    group_key: str
    name: str


class CostEfficiency(msgspec.Struct):
    window: str
    period_start: str
    period_end: str
    aggregate: str
    namespace: str | None
    total: EfficiencyFigures
    items: list[EfficiencyItem]


class ResourceAdvice(msgspec.Struct, rename="camel"):
    resource: str
    unit: str
    request: Quantity
    usage: Quantity
    efficiency: Rate | None
    recommended_request: Quantity
    potential_savings: Amount


class SavingsRecommendation(msgspec.Struct, rename="camel"):
    resource: str
    category: str
    current_cost: Amount
    potential_savings: Amount
    efficiency: Rate | None
    recommendation: str
    workload_uid: str
    kind: str
    cluster_id: str
    cluster_name: str
    namespace: str
    resources: list[ResourceAdvice]


class SavingsFilters(msgspec.Struct, rename="camel"):
    category: str | None
    min_savings: Amount | None


class CostSavings(msgspec.Struct, rename="camel"):
    recommendations: list[SavingsRecommendation]
    total_potential_savings: Amount
    period_start: str
    period_end: str
    lookback_days: int
    filters: SavingsFilters
