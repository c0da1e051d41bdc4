"""Parameters of costs/savings, with the family's 400/422 split.

`minSavings` is money in the answer's own terms (a monthly amount in currency units): a plain
decimal such as `25` or `12.50`. Text that is not one (`ten`, `1e3`, `NaN`) is 400; a negative
amount is well-formed but means nothing as a floor, so it is 422 with the minimum.
"""

from __future__ import annotations

import re
from decimal import Decimal

from services.api.errors import bad_request, validation_error
from services.api.finops.params import choice
from services.api.finops.savings import SavingsCategory

_AMOUNT = re.compile(r"-?(?:\d{1,12}(?:\.\d{0,6})?|\.\d{1,6})")


def category(raw: str | None) -> SavingsCategory | None:
    return choice("category", raw, SavingsCategory)


def min_savings(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    text = raw.strip()
    if not _AMOUNT.fullmatch(text):
        raise bad_request(
            "'minSavings' must be a decimal amount such as 25 or 12.50 (a monthly amount)",
            parameter="minSavings",
        )
    value = Decimal(text)
    if value < 0:
        raise validation_error(
            "'minSavings' must not be negative", parameter="minSavings", minimum=0
        )
    return value
