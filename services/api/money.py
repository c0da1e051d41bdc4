"""Money at the API edge: a decimal string with four places, rounded half-even."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from services.api.schemas import Money

_PLACES = Decimal("0.0001")


def money(amount: Decimal, currency: str) -> Money:
    return Money(amount=str(amount.quantize(_PLACES, rounding=ROUND_HALF_EVEN)), currency=currency)
