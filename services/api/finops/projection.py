"""From a daily forecast to the spec's monthly predictions and its `analysis` block.

The current month is the first predicted month: its complete days are actuals, today and the
days after it are forecast (today is still being collected, so its partial total is not used).
A month's bounds are the 2.5 % and 97.5 % quantiles of the month's total over the simulated
paths (a 95 % interval), plus the month's actual cost so far.

The growth rate and the trend follow the rule of costs/daily (least-squares slope divided by the
mean, symmetric threshold, exactly on the threshold is stable), applied to the forecast and
expressed per month: a forecast speaks in months, and 2 % a day would be 80 % a month.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from services.api.finops.forecast import PERIOD, Array, DailyForecast
from shared.money import MICROS_PER_UNIT

LOWER_QUANTILE, UPPER_QUANTILE = 0.025, 0.975
DAYS_PER_MONTH = 30.4375  # the average Gregorian month
GROWTH_THRESHOLD = Decimal("0.02")  # of the mean, per month
GROWTH_DAYS = 28  # the growth slope is read over at least four whole weeks of forecast
RATE_PLACES = Decimal("0.0001")
HIGH_CONFIDENCE_WIDTH = 0.20  # (upper - lower) / predicted, summed over the predicted months
MEDIUM_CONFIDENCE_WIDTH = 0.50


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def horizon_days(today: date, months: int) -> int:
    """Days from today to the end of the last predicted month, today included."""
    return (add_months(first_of_month(today), months) - today).days


def model_horizon(days: int) -> int:
    """Days to ask the model for: the horizon, but at least GROWTH_DAYS, in whole weeks.

    Whole weeks, so the weekly pattern hardly tilts the least-squares slope of the growth rate.
    """
    wanted = max(days, GROWTH_DAYS)
    return -(-wanted // PERIOD) * PERIOD


def micros(units: float) -> int:
    return round(units * MICROS_PER_UNIT)


@dataclass(frozen=True)
class MonthPrediction:
    month: date
    actual_to_date: int  # micro-units of complete days already collected (current month only)
    predicted: int
    lower: int
    upper: int


def month_predictions(
    today: date, months: int, actual_to_date: int, forecast: DailyForecast
) -> list[MonthPrediction]:
    """`months` calendar months from the current one; day 0 of the forecast is today."""
    if len(forecast.mean) < horizon_days(today, months):
        raise ValueError("the forecast is shorter than the months it should cover")
    result = []
    offset = 0
    first = first_of_month(today)
    for index in range(months):
        start, end = add_months(first, index), add_months(first, index + 1)
        days = (end - max(start, today)).days
        mean = float(np.sum(forecast.mean[offset : offset + days]))
        totals = np.sum(forecast.paths[offset : offset + days], axis=0)
        low, high = np.quantile(totals, [LOWER_QUANTILE, UPPER_QUANTILE])
        offset += days
        actual = actual_to_date if index == 0 else 0
        predicted = actual + micros(mean)
        result.append(
            MonthPrediction(
                month=start,
                actual_to_date=actual,
                predicted=predicted,
                lower=min(actual + micros(float(low)), predicted),
                upper=max(actual + micros(float(high)), predicted),
            )
        )
    return result


def _rate(value: float) -> Decimal:
    rounded = Decimal(repr(value)).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)
    return rounded if rounded else abs(rounded)


def growth_rate(mean: Array) -> Decimal | None:
    """Least-squares slope of the daily point forecasts x days per month / their mean.

    None when the forecast's mean is not positive: a growth rate of nothing means nothing.
    """
    values = np.asarray(mean, dtype=np.float64)
    level = float(np.mean(values)) if len(values) else 0.0
    if len(values) < 2 or level <= 0:
        return None
    days = np.arange(len(values), dtype=np.float64)
    centred = days - days.mean()
    slope = float(np.dot(centred, values - level) / np.dot(centred, centred))
    rate = slope * DAYS_PER_MONTH / level
    return _rate(rate) if math.isfinite(rate) else None


def trend(rate: Decimal | None) -> str:
    """increasing / decreasing beyond +/-2 % a month; exactly 2 %, or no rate, is stable."""
    if rate is None:
        return "stable"
    if rate > GROWTH_THRESHOLD:
        return "increasing"
    if rate < -GROWTH_THRESHOLD:
        return "decreasing"
    return "stable"


def confidence(predictions: Sequence[MonthPrediction]) -> str:
    """high when the intervals span at most 20 % of the predicted total, medium up to 50 %."""
    predicted = sum(p.predicted for p in predictions)
    if predicted <= 0:
        return "low"
    width = sum(p.upper - p.lower for p in predictions) / predicted
    if width <= HIGH_CONFIDENCE_WIDTH:
        return "high"
    if width <= MEDIUM_CONFIDENCE_WIDTH:
        return "medium"
    return "low"
