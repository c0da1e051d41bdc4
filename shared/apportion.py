"""Exact apportionment of an integer amount over weights (largest-remainder method).

Used to split a window's idle cost over its workloads in proportion to their cost: the shares are
integers of micro-units and add up to the amount exactly, so no micro-unit is created or lost, and
the namespace and workload parts of a cluster add up to the cluster's total in both cost modes.
"""

from __future__ import annotations

from collections.abc import Sequence


def apportion(amount: int, weights: Sequence[int]) -> list[int] | None:
    """Shares of `amount` proportional to the non-negative parts of `weights`.

    When no weight is positive (every carrier cost nothing, or was a credit) the amount is split
    equally instead: a proportion of nothing is undefined, and keeping the amount back would
    leave it outside every part. Returns None only when there is nothing to split over (no
    weights). Negative amounts (Kubecost can report negative idle after adjustments) are split
    like positive ones. Leftover units of the integer division go to the largest remainders,
    ties to the earlier weight, so the result depends only on the inputs and their order.
    """
    if not weights:
        return None
    clean = [max(w, 0) for w in weights]
    if not any(clean):
        clean = [1] * len(weights)
    total_weight = sum(clean)
    sign = -1 if amount < 0 else 1
    magnitude = abs(amount)
    shares: list[int] = []
    remainders: list[tuple[int, int]] = []
    for index, weight in enumerate(clean):
        share, remainder = divmod(magnitude * weight, total_weight)
        shares.append(share)
        remainders.append((remainder, -index))
    leftover = magnitude - sum(shares)
    for _, negative_index in sorted(remainders, reverse=True)[:leftover]:
        shares[-negative_index] += 1
    return [sign * s for s in shares]
