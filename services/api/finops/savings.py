"""The savings rules: which workloads are oversized, abandoned or hold an idle GPU, and what
each change would save a month.

Every rule works on one workload's sums over the lookback (see savings_report.py), so a
workload's verdict does not depend on how its hours were split into rows. A workload judged
abandoned gets only that recommendation: removing it already saves everything the others would.
Savings are direct resource costs; the idle share a workload carries is the cluster's unused
capacity and does not go away with a smaller request.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from services.api.finops.efficiency import KIB_PER_GIB, MICRO, Usage, ratio

RIGHTSIZE_BELOW = Decimal("0.5")  # CPU or RAM efficiency under 50 %: the request is oversized
HEADROOM = Decimal("0.2")  # recommended request = usage x 1.2
ABANDONED_BELOW = Decimal("0.05")  # every requested resource under 5 % of its request
IDLE_GPU_BELOW = Decimal("0.1")  # GPU usage under 10 % of the GPUs requested
HOURS_PER_MONTH = 730


class SavingsCategory(StrEnum):
    RIGHTSIZING = "rightsizing"
    ABANDONED = "abandoned"
    IDLE_GPU = "idle_gpu"


@dataclass(frozen=True)
class Resource:
    """One resource of a workload over the lookback, with the change advised for it.

    `request`, `usage` and `recommended` are averages over the lookback's hours, in `unit`;
    `savings` is micro-units a month.
    """

    name: str
    unit: str
    request: Decimal
    usage: Decimal
    efficiency: Decimal | None
    recommended: Decimal
    savings: int


@dataclass(frozen=True)
class Finding:
    category: SavingsCategory
    resources: list[Resource]
    efficiency: Decimal | None
    savings: int  # micro-units a month, rounded once from the exact lookback amount


@dataclass(frozen=True)
class Lookback:
    hours: int

    def monthly(self, micros: Decimal | int) -> int:
        """A lookback amount at the same rate over a 730-hour month, in micro-units."""
        scaled = Decimal(micros) * HOURS_PER_MONTH / self.hours
        return int(scaled.to_integral_value(rounding=ROUND_HALF_EVEN))

    def average(self, total: int, per_unit: Decimal) -> Decimal:
        """Unit-hours over the lookback as the average amount held (cores, GiB, GPUs)."""
        return Decimal(total) / per_unit / self.hours


_UNITS = {"cpu": ("cores", MICRO), "ram": ("GiB", KIB_PER_GIB), "gpu": ("GPUs", MICRO)}


def _measures(usage: Usage) -> dict[str, tuple[int, int, int]]:
    """(request, usage, direct cost) of each resource."""
    return {
        "cpu": (usage.cpu_request, usage.cpu_usage, usage.cpu_cost),
        "ram": (usage.ram_request, usage.ram_usage, usage.ram_cost),
        "gpu": (usage.gpu_request, usage.gpu_usage, usage.gpu_cost),
    }


def _resource(
    lookback: Lookback, name: str, measured: tuple[int, int, int], keep: Decimal, saved: Decimal
) -> Resource:
    """`keep` is the fraction of the request to keep, `saved` the cost saved over the lookback."""
    request, used, _ = measured
    unit, per_unit = _UNITS[name]
    return Resource(
        name=name,
        unit=unit,
        request=lookback.average(request, per_unit),
        usage=lookback.average(used, per_unit),
        efficiency=ratio(used, request),
        recommended=lookback.average(request, per_unit) * keep,
        savings=lookback.monthly(saved),
    )


def _abandoned(usage: Usage, lookback: Lookback) -> Finding | None:
    measured = _measures(usage)
    efficiencies = {n: ratio(u, r) for n, (r, u, _) in measured.items()}
    requested = [n for n, (r, _, _) in measured.items() if r > 0]
    if not requested or usage.cost <= 0:
        return None
    if any(e is not None and e >= ABANDONED_BELOW for e in efficiencies.values()):
        return None
    resources = [
        _resource(lookback, n, measured[n], Decimal(0), Decimal(measured[n][2])) for n in requested
    ]
    # Removing the workload saves its whole cost, storage and network included.
    savings = lookback.monthly(usage.cost)
    return Finding(SavingsCategory.ABANDONED, resources, usage.total_efficiency, savings)


def _rightsizing(usage: Usage, lookback: Lookback) -> Finding | None:
    resources, saved = [], Decimal(0)
    for name in ("cpu", "ram"):
        request, used, cost = _measures(usage)[name]
        if request <= 0 or cost <= 0 or Decimal(used) / request >= RIGHTSIZE_BELOW:
            continue
        keep = Decimal(used) * (1 + HEADROOM) / request
        saved += cost * (1 - keep)
        resources.append(_resource(lookback, name, (request, used, cost), keep, cost * (1 - keep)))
    if not resources:
        return None
    savings = lookback.monthly(saved)
    return Finding(SavingsCategory.RIGHTSIZING, resources, usage.total_efficiency, savings)


def _idle_gpu(usage: Usage, lookback: Lookback) -> Finding | None:
    measured = _measures(usage)["gpu"]
    request, used, cost = measured
    if request <= 0 or cost <= 0 or Decimal(used) / request >= IDLE_GPU_BELOW:
        return None
    resource = _resource(lookback, "gpu", measured, Decimal(0), Decimal(cost))
    return Finding(SavingsCategory.IDLE_GPU, [resource], resource.efficiency, resource.savings)


def findings(usage: Usage, lookback: Lookback) -> list[Finding]:
    abandoned = _abandoned(usage, lookback)
    if abandoned is not None:
        return [abandoned]
    found = [_rightsizing(usage, lookback), _idle_gpu(usage, lookback)]
    return [f for f in found if f is not None]
