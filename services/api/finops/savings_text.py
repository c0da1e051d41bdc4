"""The sentence of each savings recommendation: what to change, from what to what, and why.

A FinOps reader acts on the text, so it states the numbers the decision rests on (utilization,
the request now and the one advised, the monthly amount), not just a category.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from services.api.finops.numbers import amount
from services.api.finops.savings import (
    ABANDONED_BELOW,
    HEADROOM,
    IDLE_GPU_BELOW,
    Finding,
    Resource,
    SavingsCategory,
)

LABELS = {"cpu": "CPU", "ram": "RAM", "gpu": "GPU"}
PLACES = {"cores": Decimal("0.001"), "GiB": Decimal("0.01"), "GPUs": Decimal("0.01")}


def percent(ratio: Decimal | None) -> str:
    """`0.25` -> `25%`, `0.024` -> `2.4%`."""
    if ratio is None:
        return "n/a"
    value = (ratio * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    return f"{value:f}".removesuffix(".0") + "%"


def held(value: Decimal, unit: str) -> str:
    return f"{value.quantize(PLACES[unit], rounding=ROUND_HALF_EVEN):f} {unit}"


def _rightsize(resource: Resource) -> str:
    return (
        f"the {LABELS[resource.name]} request from {held(resource.request, resource.unit)} to "
        f"{held(resource.recommended, resource.unit)} (usage {held(resource.usage, resource.unit)},"
        f" {percent(resource.efficiency)} of the request)"
    )


def recommendation(finding: Finding, days: int) -> str:
    saves = f"{amount(finding.savings):f} a month"
    if finding.category is SavingsCategory.RIGHTSIZING:
        changes = " and ".join(_rightsize(r) for r in finding.resources)
        return (
            f"Resource utilization is {percent(finding.efficiency)} over the last {days} days. "
            f"Reduce {changes}: usage plus {percent(HEADROOM)} headroom. Saves {saves}."
        )
    if finding.category is SavingsCategory.ABANDONED:
        usage = ", ".join(f"{LABELS[r.name]} {percent(r.efficiency)}" for r in finding.resources)
        return (
            f"Usage stayed under {percent(ABANDONED_BELOW)} of every request ({usage}) over the "
            f"last {days} days: the workload looks abandoned. Removing it saves {saves}."
        )
    (gpu,) = finding.resources
    return (
        f"GPU usage is {percent(gpu.efficiency)} of the {held(gpu.request, gpu.unit)} requested "
        f"over the last {days} days (under {percent(IDLE_GPU_BELOW)}): release the GPUs or share "
        f"them. Saves {saves}."
    )
