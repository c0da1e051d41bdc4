"""Exact money: integer micro-units (1e-6 of the currency) everywhere between parsing and rendering.

Kubecost and OpenCost send costs as JSON floats rounded to 5 decimals. Parsed as `Decimal` from the
JSON text (never through `float`), they convert to micro-units without loss, are summed as integers
in the database, and are rendered back as decimal strings only at the edge.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

MICROS_PER_UNIT = 1_000_000
_MICRO = Decimal("0.000001")


class MoneyError(ValueError):
    """A cost value that cannot be represented as money (NaN, infinity, not a number)."""


def to_micros(value: Decimal | int | str) -> int:
    """Convert a decimal amount to integer micro-units, rounding half-even below 1e-6.

    Rounding only happens for inputs with more than six decimals, which Kubecost never sends.
    """
    try:
        amount = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation as exc:
        raise MoneyError(f"not a number: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return int((amount * MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_micros(micros: int) -> Decimal:
    """The exact decimal amount of `micros` micro-units."""
    return (Decimal(micros) / MICROS_PER_UNIT).quantize(_MICRO)


def format_amount(micros: int, places: int = 4) -> str:
    """Render micro-units as a decimal string with `places` decimals (half-even), e.g. "12.4700"."""
    quantum = Decimal(1).scaleb(-places)
    return str(from_micros(micros).quantize(quantum, rounding=ROUND_HALF_EVEN))
