"""Money at the API edge: a decimal string with six places, the micro-units the rollups sum.

Six places is the stored precision, so an amount read from the rollups is rendered exactly, with
no rounding: the parts of a total (namespaces of a cluster, workloads of a namespace) add up to
the total's string to the last digit. Derived amounts (run rates, projections) are the only ones
rounded, half-even, at the sixth place.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from services.api.schemas import Money

_PLACES = Decimal("0.000001")


def money(amount: Decimal, currency: str) -> Money:
    return Money(amount=str(amount.quantize(_PLACES, rounding=ROUND_HALF_EVEN)), currency=currency)
