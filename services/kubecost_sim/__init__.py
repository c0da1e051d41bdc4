"""Deterministic Kubecost/OpenCost simulator for demos, benchmarks and tests.

The pipeline's correctness claims ("every dollar counted exactly once") need a source whose
exact totals are known; this package is that source. `model` generates data, `server` serves
it over HTTP in the real response format (import it separately; it pulls in Litestar).
"""

from services.kubecost_sim.model import (
    AssetTotals,
    SimConfig,
    allocation_set,
    allocation_window,
    asset_ground_truth,
    asset_set,
    asset_window,
    cluster_name,
    ground_truth_total,
)

__all__ = [
    "AssetTotals",
    "SimConfig",
    "allocation_set",
    "allocation_window",
    "asset_ground_truth",
    "asset_set",
    "asset_window",
    "cluster_name",
    "ground_truth_total",
]
