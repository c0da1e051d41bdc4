"""Response shapes of costs/forecast, costs/anomalies and costs/realtime.

The spec's fields come first and keep its names; the fields after them say how the answer was
made (the model used, the period analysed, why a list is empty), in the family's snake_case.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from services.api.finops.schemas import Amount, CostPoint, Percent

Rate = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={
            "description": "A ratio (0.02 means 2 %), 4 decimals, written as a JSON number.",
        }
    ),
]
Score = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={
            "description": "A robust z-score, 2 decimals, written as a JSON number.",
        }
    ),
]


class ForecastPoint(msgspec.Struct):
    date: str
    predicted: Amount
    lower_bound: Amount
    upper_bound: Amount
    actual_to_date: Amount


class ForecastAnalysis(msgspec.Struct):
    trend: str | None
    monthly_growth_rate: Rate | None
    confidence: str | None


class ModelScore(msgspec.Struct):
    model: str
    aicc: Score | None


class CostForecast(msgspec.Struct):
    historical: list[CostPoint]
    predictions: list[ForecastPoint]
    analysis: ForecastAnalysis
    model: str | None
    model_requested: str
    months: int
    interval_percent: Percent
    history_start: str | None
    history_end: str | None
    history_days: int
    candidates: list[ModelScore]
    outlier_days: list[str]
    reason: str | None
    # When this answer was fitted, and the end of the history it was fitted on (the answer is
    # stored and served again until that history changes).
    computed_at: str | None = None
    data_through: str | None = None


class AnomalyScope(msgspec.Struct, omit_defaults=True):
    type: str
    cluster_id: str | None = None
    cluster_name: str | None = None
    namespace: str | None = None


class Anomaly(msgspec.Struct):
    scope: AnomalyScope
    date: str
    expected: Amount
    actual: Amount
    deviation: Amount
    deviation_percent: Percent | None
    score: Score
    direction: str


class AnomalyPeriod(msgspec.Struct):
    days: int
    threshold: Score
    start: str
    end: str


class CostAnomalies(msgspec.Struct):
    anomalies: list[Anomaly]
    period: AnomalyPeriod
    scopes_analysed: int
    total_found: int
    reason: str | None
    computed_at: str | None = None
    data_through: str | None = None


class RealtimeItem(msgspec.Struct):
    group_key: str
    name: str
    cluster_id: str | None
    cluster_name: str | None
    cpu_cost: Amount
    ram_cost: Amount
    gpu_cost: Amount
    pv_cost: Amount
    network_cost: Amount
    load_balancer_cost: Amount
    shared_cost: Amount
    external_cost: Amount
    total_cost: Amount
    cpu_efficiency: Rate | None
    ram_efficiency: Rate | None
    efficiency: Rate | None


class RealtimeCluster(msgspec.Struct):
    cluster_id: str
    cluster_name: str
    total_cost: Amount
    window_start: str | None
    window_end: str | None
    fetched_at: str


class RealtimeCosts(msgspec.Struct):
    window: str
    aggregate: str
    namespace: str | None
    total_cost: Amount
    clusters: list[RealtimeCluster]
    items: list[RealtimeItem]
