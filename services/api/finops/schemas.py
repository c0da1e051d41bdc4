"""Response shapes of the FinOps endpoints, as msgspec Structs.

Where the spec shows a shape it is followed field for field; where it only says what comes back
(historical, breakdown, trends, top-drivers, dashboard stats) the shapes below are ours, in the
same snake_case style, documented in docs/api.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

Amount = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={
            "description": "Money, rounded half-even to 2 decimals, written as a JSON number.",
        }
    ),
]
Percent = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={
            "description": "A percentage (12.5 means 12.5 %), 2 decimals.",
        }
    ),
]


class CostPoint(msgspec.Struct):
    date: str
    total: Amount


class MonthlySummary(msgspec.Struct):
    average_monthly: Amount
    highest_month: CostPoint | None
    lowest_month: CostPoint | None


class MonthlyCosts(msgspec.Struct):
    months: list[CostPoint]
    summary: MonthlySummary


class DailySummary(msgspec.Struct):
    total_period: Amount
    daily_average: Amount
    trend: str


class DailyCosts(msgspec.Struct):
    days: list[CostPoint]
    summary: DailySummary


class ServiceCost(msgspec.Struct):
    group_key: str
    name: str
    total_cost: Amount
    cpu_cost: Amount
    ram_cost: Amount
    storage_cost: Amount
    network_cost: Amount
    gpu_cost: Amount
    other_cost: Amount
    idle_cost: Amount


class ServiceCosts(msgspec.Struct):
    items: list[ServiceCost]
    total_cost: Amount
    period_start: str
    period_end: str


class Filters(msgspec.Struct, rename="camel"):
    org_id: str | None = None
    user_id: str | None = None
    resource_type: str | None = None


class GroupSeries(msgspec.Struct):
    group_key: str
    name: str
    total_cost: Amount
    points: list[CostPoint]


class HistoricalCosts(msgspec.Struct):
    period_start: str
    period_end: str
    granularity: str
    group_by: str | None
    filters: Filters
    total_cost: Amount
    points: list[CostPoint]
    groups: list[GroupSeries]


class BreakdownItem(msgspec.Struct):
    group_key: str
    name: str
    total_cost: Amount
    share_percent: Percent | None
    resources: dict[str, Amount]


class CostBreakdown(msgspec.Struct):
    window: str
    period_start: str
    period_end: str
    group_by: str
    filters: Filters
    total_cost: Amount
    items: list[BreakdownItem]


class TrendPoint(msgspec.Struct):
    date: str
    total: Amount
    change: Amount | None
    change_percent: Percent | None


class TrendGroup(msgspec.Struct):
    group_key: str
    name: str
    total_cost: Amount
    points: list[TrendPoint]


class CostTrends(msgspec.Struct):
    window: str
    period_start: str
    period_end: str
    granularity: str
    group_by: str | None
    total_cost: Amount
    points: list[TrendPoint]
    groups: list[TrendGroup]


class Driver(msgspec.Struct):
    rank: int
    group_key: str
    name: str
    kind: str
    cluster_id: str
    cluster_name: str
    namespace: str
    total_cost: Amount
    share_percent: Percent | None
    previous_cost: Amount
    change: Amount
    change_percent: Percent | None


class TopDrivers(msgspec.Struct):
    window: str
    period_start: str
    period_end: str
    compare_window: str
    compare_start: str
    compare_end: str
    total_cost: Amount
    previous_total_cost: Amount
    drivers: list[Driver]


class DashboardStats(msgspec.Struct):
    period: str
    period_start: str
    period_end: str
    total_cost: Amount
    workload_cost: Amount
    idle_cost: Amount
    idle_percent: Percent | None
    daily_average: Amount
    previous_total_cost: Amount
    change: Amount
    change_percent: Percent | None
    resources: dict[str, Amount]
    cluster_count: int
    namespace_count: int
    workload_count: int
    service_count: int


class Dashboard(msgspec.Struct, rename="camel"):
    stats: DashboardStats
    cost_trend: CostTrends
    monthly_costs: MonthlyCosts
    top_drivers: list[Driver]
