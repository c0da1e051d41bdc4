"""Exact apportionment of an integer amount over weights (largest-remainder method).

Used to split a window's idle cost over its workloads in proportion to their cost: the shares are
integers of micro-units and add up to the amount exactly, so no micro-unit is created or lost.
"""

from __future__ import annotations

from collections.abc import Sequence


def apportion(amount: int, weights: Sequence[int]) -> list[int] | None:
    """Shares of `amount` proportional to the non-negative parts of `weights`.

    Returns None when no weight is positive (there is nothing to split over). Negative amounts
    (Kubecost can report negative idle after adjustments) are split like positive ones.
    """
    clean = [max(w, 0) for w in weights]
    total_weight = sum(clean)
    if total_weight == 0:
        return None
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
