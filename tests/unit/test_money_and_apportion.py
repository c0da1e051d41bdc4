from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.apportion import apportion
from shared.money import MoneyError, format_amount, from_micros, to_micros


def test_kubecost_five_decimal_values_convert_without_loss() -> None:
    assert to_micros(Decimal("1.52743")) == 1_527_430
    assert from_micros(1_527_430) == Decimal("1.527430")
    assert format_amount(1_527_430) == "1.5274"
    assert format_amount(12_470_000) == "12.4700"


def test_rounding_below_a_micro_unit_is_half_even() -> None:
    assert to_micros(Decimal("0.0000005")) == 0
    assert to_micros(Decimal("0.0000015")) == 2


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "abc"])
def test_non_finite_amounts_are_refused(bad: str) -> None:
    with pytest.raises(MoneyError):
        to_micros(bad)


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.lists(st.integers(min_value=-5, max_value=10**9), min_size=1, max_size=40),
)
def test_apportion_is_exact_and_proportional(amount: int, weights: list[int]) -> None:
    shares = apportion(amount, weights)
    assert shares is not None
    assert sum(shares) == amount
    positive = [max(w, 0) for w in weights]
    if sum(positive) == 0:
        # Nothing to be proportional to: equal parts, the leftover to the first weights.
        base, leftover = divmod(abs(amount), len(weights))
        sign = -1 if amount < 0 else 1
        assert shares == [sign * (base + (i < leftover)) for i in range(len(weights))]
        return
    total = sum(positive)
    for share, weight in zip(shares, positive, strict=True):
        exact = Decimal(amount) * weight / total
        assert abs(Decimal(share) - exact) < 1
        if weight == 0:
            assert share == 0


def test_apportion_over_nothing_is_none() -> None:
    assert apportion(1_000, []) is None
    assert apportion(0, []) is None
