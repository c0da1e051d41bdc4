"""Parameters of costs/forecast and costs/anomalies, with the family's 400/422 split.

Text that is not a number where one is expected is 400 BAD_REQUEST; a number outside the
accepted range, or a model name outside the list, is 422 VALIDATION_ERROR saying what is
accepted (see params.py for the integer and choice rules shared with the other endpoints).
"""

from __future__ import annotations

import re
from decimal import Decimal

from services.api.errors import bad_request, validation_error
from services.api.finops.forecast import ForecastModel
from services.api.finops.params import choice, integer

MAX_FORECAST_MONTHS = 12  # a year ahead; history is at most about a year long
MAX_ANOMALY_DAYS = 365
MAX_THRESHOLD = Decimal(100)
# Any count of digits is a well-formed number (a huge one is 422, out of range, like `limit`).
_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")


def months(raw: str | None) -> int:
    return integer("months", raw, 3, 1, MAX_FORECAST_MONTHS)


def model(raw: str | None) -> ForecastModel:
    chosen = choice("model", raw, ForecastModel, ForecastModel.AUTO)
    assert chosen is not None
    return chosen


def days(raw: str | None) -> int:
    return integer("days", raw, 30, 1, MAX_ANOMALY_DAYS)


def threshold(raw: str | None) -> Decimal:
    """A plain decimal number above 0 and at most 100 (NaN, infinities, exponents are 400)."""
    if raw is None:
        return Decimal("2.0")
    text = raw.strip()
    if not _DECIMAL.fullmatch(text):
        raise bad_request("'threshold' must be a decimal number such as 2.5", parameter="threshold")
    value = Decimal(text)
    if not 0 < value <= MAX_THRESHOLD:
        raise validation_error(
            f"'threshold' must be greater than 0 and at most {MAX_THRESHOLD}",
            parameter="threshold",
            exclusive_minimum=0,
            maximum=int(MAX_THRESHOLD),
        )
    return value
