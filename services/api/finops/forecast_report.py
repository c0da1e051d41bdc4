"""GET costs/forecast: the history from cost_daily, a daily forecast, the monthly answer.

History is the fully loaded cost per complete UTC day, from the first of the month twelve
months before the current one (or from the first day with data, if later) to yesterday; today is
still being collected and would read as a drop. Inside that stretch a day without cost is a
genuine zero, as in every series of the family.

One-off days are taken out before fitting: a day whose robust STL score (the method of
costs/anomalies) exceeds OUTLIER_SCORE, alone or in a run of at most two such days in the same
direction, is replaced by its expected cost in the series the model sees, and listed in
`outlier_days`. A single spike would otherwise lift the fitted level and trend for months: the
exponential smoothing models carry a recent spike straight into every future day. Longer runs,
and a run still going on yesterday, are kept: they may be a new level (a workload that started
and stays), which the forecast must follow. The actual costs (`historical`, `actual_to_date`)
are untouched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from services.api.finops.analysis_schemas import (
    CostForecast,
    ForecastAnalysis,
    ForecastPoint,
    ModelScore,
)
from services.api.finops.anomalies import without_outliers
from services.api.finops.forecast import (
    MIN_HISTORY_DAYS,
    FitError,
    ForecastModel,
    forecast_daily,
)
from services.api.finops.modelling import (
    input_digest,
    run_model,
    scope_key,
    store_answer,
    stored_answer,
)
from services.api.finops.numbers import amount
from services.api.finops.projection import (
    add_months,
    confidence,
    first_of_month,
    growth_rate,
    horizon_days,
    model_horizon,
    month_predictions,
    trend,
)
from services.api.finops.queries import bucket_totals
from services.api.finops.scope import Scope
from services.api.finops.series import timeline
from services.api.finops.timeseries import cost_points
from services.api.finops.windows import Span
from shared.db.pool import Conn, Pool
from shared.money import MICROS_PER_UNIT
from shared.timewindows import Resolution, bucket_start, isoformat_z

HISTORY_MONTHS = 12
INTERVAL_PERCENT = Decimal("95.00")
OUTLIER_SCORE = 5.0
DAY = timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def history_span(today: date) -> Span:
    return Span(_midnight(add_months(first_of_month(today), -HISTORY_MONTHS)), _midnight(today))


def split_history(
    points: Sequence[tuple[datetime, int]], today: date
) -> tuple[list[tuple[datetime, int]], int]:
    """(actual total per month before the current one, the current month's actual so far)."""
    current = first_of_month(today)
    months: dict[date, int] = defaultdict(int)
    to_date = 0
    for anchor, micros in points:
        month = first_of_month(anchor.date())
        if month >= current:
            to_date += micros
        else:
            months[month] += micros
    return [(_midnight(m), months[m]) for m in sorted(months)], to_date


def _aicc(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def project(
    points: Sequence[tuple[datetime, int]], today: date, months: int, model: ForecastModel
) -> CostForecast:
    """The whole answer from the daily history (micro-units per complete day, oldest first)."""
    historical, to_date = split_history(points, today)
    answer = CostForecast(
        historical=cost_points(historical),
        predictions=[],
        analysis=ForecastAnalysis(None, None, None),
        model=None,
        model_requested=model.value,
        months=months,
        interval_percent=INTERVAL_PERCENT,
        history_start=isoformat_z(points[0][0]) if points else None,
        history_end=isoformat_z(points[-1][0] + DAY) if points else None,
        history_days=len(points),
        candidates=[],
        outlier_days=[],
        reason=None,
    )
    if not points:
        answer.reason = "there is no cost data yet for the clusters this key can see"
        return answer
    if len(points) < MIN_HISTORY_DAYS:
        answer.reason = (
            f"a forecast needs at least {MIN_HISTORY_DAYS} complete days of cost history; "
            f"there are {len(points)}"
        )
        return answer
    values, outliers = without_outliers([m / MICROS_PER_UNIT for _, m in points], OUTLIER_SCORE)
    try:
        daily = forecast_daily(values, model_horizon(horizon_days(today, months)), model)
    except FitError as exc:  # even the linear fallback failed: say so, never a 500
        answer.reason = f"no model could be fitted to this history ({exc})"
        return answer
    predictions = month_predictions(today, months, to_date, daily)
    rate = growth_rate(daily.mean)
    answer.predictions = [
        ForecastPoint(
            date=p.month.isoformat(),
            predicted=amount(p.predicted),
            lower_bound=amount(p.lower),
            upper_bound=amount(p.upper),
            actual_to_date=amount(p.actual_to_date),
        )
        for p in predictions
    ]
    answer.analysis = ForecastAnalysis(trend(rate), rate, confidence(predictions))
    answer.model = daily.model.value
    answer.candidates = [ModelScore(s.model.value, _aicc(s.aicc)) for s in daily.scores]
    answer.outlier_days = [isoformat_z(points[i][0]) for i in outliers]
    answer.reason = daily.fallback
    return answer


async def daily_history(
    conn: Conn, scope: Scope, today: date, now: datetime
) -> list[tuple[datetime, int]]:
    span = history_span(today)
    rows = await bucket_totals(conn, scope, span, Resolution.DAILY)
    return timeline(rows, span, Resolution.DAILY, now)


async def forecast_for(
    pool: Pool, scope: Scope, months: int, model: ForecastModel, now: datetime
) -> CostForecast:
    """The forecast a request asked at `now` gets: the history read (the connection given back
    before any fit), then the stored answer for it or a new fit."""
    today = bucket_start(now, Resolution.DAILY).date()
    async with pool.connection() as conn:
        points = await daily_history(conn, scope, today, now)
    return await stored_forecast(pool, scope, points, today, months, model, now)


async def forecast_answer(
    points: Sequence[tuple[datetime, int]], today: date, months: int, model: ForecastModel
) -> CostForecast:
    """`project` in a worker thread: the fits take about a second of CPU."""
    return await run_model(project, points, today, months, model)


async def stored_forecast(
    pool: Pool,
    scope: Scope,
    points: Sequence[tuple[datetime, int]],
    today: date,
    months: int,
    model: ForecastModel,
    now: datetime,
) -> CostForecast:
    """The answer stored for this exact input, or fitted now and stored for the next request
    (of any API process): the fits take seconds of CPU, the answer only changes with its input."""
    key = scope_key(scope)
    digest = input_digest(list(points), today.isoformat(), months, model.value)
    found = await stored_answer(pool, "forecast", key, digest, CostForecast)
    if found is not None:
        return found
    answer = await forecast_answer(points, today, months, model)
    answer.computed_at = isoformat_z(now)
    answer.data_through = answer.history_end
    through = points[-1][0] + DAY if points else None
    await store_answer(pool, "forecast", key, digest, answer, through)
    return answer
