"""Money and percentages at the FinOps edge: exact decimals from integer micro-units.

The FinOps contract shows money as JSON numbers (`1234.56`), not strings. Amounts stay integers
until the last step, are rounded half-even to cents as `Decimal`, and are written by an encoder
that emits a `Decimal` as its own digits (see `response.py`), so the JSON text is the rounded
decimal itself and never a binary-float approximation such as `1234.5600000001`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from shared.money import MICROS_PER_UNIT

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    rounded = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    # A tiny credit rounds to -0.00; JSON readers should see 0.00.
    return rounded if rounded else abs(rounded)


def amount(micros: int) -> Decimal:
    """`micros` as currency units, rounded half-even to two decimals."""
    return _cents(Decimal(micros) / MICROS_PER_UNIT)


def average(micros: int, count: int) -> Decimal:
    """The mean of `count` amounts totalling `micros`, rounded once at the end (0 when empty)."""
    if count <= 0:
        return amount(0)
    return _cents(Decimal(micros) / MICROS_PER_UNIT / count)


def percent(part: int, whole: int) -> Decimal | None:
    """`part` as a percentage of `whole`, two decimals; None when `whole` is not positive."""
    if whole <= 0:
        return None
    return _cents(Decimal(part) * 100 / Decimal(whole))


def change_percent(current: int, previous: int) -> Decimal | None:
    """Relative change from `previous` to `current`; None when there is nothing to compare to.

    A previous amount of zero (or a credit) has no meaningful percentage, so the change is only
    reported as an absolute amount then.
    """
    return percent(current - previous, previous)
