"""The forecast maths on synthetic daily series whose structure is known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from services.api.errors import ApiError
from services.api.finops import analysis_params
from services.api.finops.forecast import (
    FITTERS,
    DailyForecast,
    ForecastModel,
    Score,
    forecast_daily,
)
from services.api.finops.forecast_report import project, split_history
from services.api.finops.projection import (
    DAYS_PER_MONTH,
    MonthPrediction,
    confidence,
    growth_rate,
    horizon_days,
    model_horizon,
    month_predictions,
    trend,
)

WEEK = np.array([0.0, 6.0, 6.0, 6.0, 6.0, -12.0, -12.0])  # quiet weekends


def noisy(values: np.ndarray, sd: float, seed: int = 1) -> np.ndarray:
    return values + np.random.default_rng(seed).normal(0.0, sd, len(values))


def true_growth(intercept: float, slope: float, start: int, days: int) -> float:
    """The growth-rate rule applied to the noise-free line over the forecast days."""
    level = intercept + slope * (start + (days - 1) / 2)
    return slope * DAYS_PER_MONTH / level


def test_a_linear_trend_is_increasing_at_its_true_growth_rate() -> None:
    days = np.arange(120, dtype=np.float64)
    history = noisy(200 + 2 * days, 4.0)
    horizon = model_horizon(horizon_days(date(2025, 5, 17), 3))
    for model in (ForecastModel.AUTO, ForecastModel.LINEAR):
        daily = forecast_daily(history, horizon, model)
        rate = growth_rate(daily.mean)
        assert rate is not None
        assert abs(float(rate) - true_growth(200, 2, 120, horizon)) < 0.01, (model, rate)
        assert trend(rate) == "increasing"
    falling = forecast_daily(noisy(900 - 3 * days, 4.0), horizon)
    assert trend(growth_rate(falling.mean)) == "decreasing"


def test_a_weekly_pattern_is_captured_and_held_out_days_fall_inside_the_intervals() -> None:
    days = np.arange(84 + 28)
    truth = 100 + WEEK[days % 7]
    series = noisy(truth, 2.0, seed=7)
    history, held_out = series[:84], series[84:]
    for model in (ForecastModel.AUTO, ForecastModel.ETS, ForecastModel.HOLT_WINTERS):
        daily = forecast_daily(history, 28, model)
        assert daily.model is not ForecastModel.LINEAR
        # The forecast follows the weekdays, not the mean: far closer than the pattern's size.
        assert np.mean(np.abs(daily.mean - truth[84:])) < 2.5, model
        low, high = np.quantile(daily.paths, [0.025, 0.975], axis=1)
        inside = np.mean((held_out >= low) & (held_out <= high))
        assert inside >= 0.85, (model, inside)
        # ... and not by being vague: a 95 % interval of noise with sd 2 is about 8 wide.
        assert np.mean(high - low) < 12, model
    linear = forecast_daily(history, 28, ForecastModel.LINEAR)
    assert np.mean(np.abs(linear.mean - truth[84:])) > 6


def test_auto_prefers_a_weekly_model_by_aicc() -> None:
    days = np.arange(90)
    daily = forecast_daily(noisy(100 + 0.3 * days + WEEK[days % 7], 1.5), 28)
    scores = {s.model: s.aicc for s in daily.scores}
    assert set(scores) == {m for m in ForecastModel if m is not ForecastModel.AUTO}
    linear_score = scores[ForecastModel.LINEAR]
    chosen_score = scores[daily.model]
    assert linear_score is not None
    assert chosen_score is not None
    assert daily.model is not ForecastModel.LINEAR
    assert chosen_score == min(s for s in scores.values() if s is not None) < linear_score


@pytest.mark.parametrize("model", [m for m in ForecastModel if m is not ForecastModel.AUTO])
def test_every_named_model_gives_ordered_monthly_bounds(model: ForecastModel) -> None:
    days = np.arange(60)
    history = noisy(300 + days + 3 * WEEK[days % 7], 6.0)
    today = date(2025, 3, 10)
    daily = forecast_daily(history, model_horizon(horizon_days(today, 3)), model)
    assert daily.model is model
    assert daily.fallback is None
    months = month_predictions(today, 3, 2_000_000_000, daily)
    assert [m.month for m in months] == [date(2025, 3, 1), date(2025, 4, 1), date(2025, 5, 1)]
    for month in months:
        assert 0 <= month.lower < month.predicted < month.upper
    assert months[0].lower > 2_000_000_000  # the month's actual cost so far is part of it
    assert trend(growth_rate(daily.mean)) == "increasing"


def test_monthly_bounds_are_quantiles_of_the_simulated_monthly_totals() -> None:
    horizon = 30
    levels = np.linspace(5.0, 15.0, 101)  # path r costs levels[r] every day
    paths = np.tile(levels, (horizon, 1))
    daily = DailyForecast(
        ForecastModel.LINEAR,
        np.full(horizon, 10.0),
        paths,
        (Score(ForecastModel.LINEAR, 1.0),),
        None,
    )
    today = date(2025, 1, 30)  # two days left in January, then all of February
    january, february = month_predictions(today, 2, 7_000_000, daily)
    assert january.predicted == 7_000_000 + 20_000_000
    assert january.actual_to_date == 7_000_000
    # Correlated days: the interval of the sum is the sum's quantiles, 2 x (5.25 .. 14.75).
    assert january.lower == 7_000_000 + 10_500_000
    assert january.upper == 7_000_000 + 29_500_000
    assert february.actual_to_date == 0
    assert (february.lower, february.predicted, february.upper) == (
        147_000_000,
        280_000_000,
        413_000_000,
    )


def test_horizons() -> None:
    assert horizon_days(date(2025, 1, 31), 1) == 1
    assert horizon_days(date(2025, 2, 10), 3) == 19 + 31 + 30
    assert horizon_days(date(2024, 12, 1), 2) == 31 + 31
    assert model_horizon(5) == 28
    assert model_horizon(80) == 84


def test_growth_threshold_and_confidence_rules() -> None:
    assert trend(Decimal("0.0200")) == "stable"
    assert trend(Decimal("-0.0200")) == "stable"
    assert trend(Decimal("0.0201")) == "increasing"
    assert trend(Decimal("-0.0201")) == "decreasing"
    assert trend(None) == "stable"
    assert growth_rate(np.zeros(28)) is None
    assert growth_rate(np.full(28, 4.0)) == Decimal("0.0000")

    def month(predicted: int, width: int) -> MonthPrediction:
        return MonthPrediction(
            date(2025, 1, 1), 0, predicted, predicted - width // 2, predicted + width // 2
        )

    assert confidence([month(100, 20), month(100, 20)]) == "high"  # 20 %
    assert confidence([month(100, 22), month(100, 20)]) == "medium"
    assert confidence([month(100, 50)]) == "medium"
    assert confidence([month(100, 52)]) == "low"
    assert confidence([month(0, 0)]) == "low"


def test_a_flat_history_forecasts_itself_and_never_fails() -> None:
    for model in ForecastModel:
        daily = forecast_daily(np.full(40, 25.0), 28, model)
        assert np.allclose(daily.mean, 25.0, rtol=1e-3), model
        rate = growth_rate(daily.mean)
        assert rate is not None
        assert abs(rate) <= Decimal("0.001"), model
        assert trend(rate) == "stable"


def test_a_model_that_cannot_be_fitted_falls_back_to_linear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> None:
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setitem(FITTERS, ForecastModel.ARIMA, broken)
    days = np.arange(30, dtype=np.float64)
    daily = forecast_daily(50 + days, 28, ForecastModel.ARIMA)
    assert daily.model is ForecastModel.LINEAR
    assert daily.fallback is not None
    assert "singular matrix" in daily.fallback
    assert "used linear instead" in daily.fallback
    auto = forecast_daily(50 + days, 28)
    assert Score(ForecastModel.ARIMA, None) in auto.scores


def _points(first: date, values: list[int]) -> list[tuple[datetime, int]]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return [(start + timedelta(days=i), v) for i, v in enumerate(values)]


def test_too_little_history_is_an_empty_answer_with_a_reason() -> None:
    today = date(2025, 3, 12)
    short = project(_points(date(2025, 3, 1), [5_000_000] * 11), today, 3, ForecastModel.AUTO)
    assert short.predictions == []
    assert short.model is None
    assert short.reason is not None
    assert "at least 14" in short.reason
    assert short.history_days == 11
    assert (short.analysis.trend, short.analysis.confidence) == (None, None)
    empty = project([], today, 3, ForecastModel.ETS)
    assert empty.reason is not None
    assert empty.history_start is None


def test_history_is_split_into_past_months_and_this_month_so_far() -> None:
    points = _points(date(2025, 1, 30), [1, 2, 3, 4, 5])  # Jan 30, 31, Feb 1, 2, 3
    months, to_date = split_history(points, date(2025, 2, 4))
    assert months == [(datetime(2025, 1, 1, tzinfo=UTC), 3)]
    assert to_date == 12


def test_project_answers_in_the_spec_shape() -> None:
    today = date(2025, 4, 15)
    values = [100_000_000 + 500_000 * i for i in range(60)]
    answer = project(_points(today - timedelta(days=60), values), today, 2, ForecastModel.LINEAR)
    assert answer.model == "linear"
    assert [p.date for p in answer.predictions] == ["2025-04-01", "2025-05-01"]
    april = answer.predictions[0]
    assert april.actual_to_date == Decimal(sum(values[-14:])) / 1_000_000
    assert april.lower_bound <= april.predicted <= april.upper_bound
    assert answer.analysis.trend == "increasing"
    assert answer.analysis.confidence == "high"
    assert [p.date for p in answer.historical] == ["2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"]
    assert answer.history_end == "2025-04-15T00:00:00Z"


def test_a_one_off_spike_does_not_lift_the_forecast() -> None:
    today = date(2025, 4, 15)
    values = [100_000_000 + 500_000 * i for i in range(60)]
    spiked = list(values)
    spiked[-5] *= 4
    start = today - timedelta(days=60)
    plain = project(_points(start, values), today, 2, ForecastModel.ETS)
    answer = project(_points(start, spiked), today, 2, ForecastModel.ETS)
    assert answer.outlier_days == ["2025-04-10T00:00:00Z"]
    assert plain.outlier_days == []
    # The actuals keep the spike; the prediction of next month does not.
    april, may = answer.predictions
    extra = Decimal(3 * values[-5]) / 1_000_000
    assert april.actual_to_date - plain.predictions[0].actual_to_date == extra
    assert abs(may.predicted - plain.predictions[1].predicted) < Decimal("0.01") * may.predicted


def test_forecast_parameters() -> None:
    assert analysis_params.months(None) == 3
    assert analysis_params.model(None) is ForecastModel.AUTO
    assert analysis_params.model(" ETS ") is ForecastModel.ETS
    with pytest.raises(ApiError) as unknown:
        analysis_params.model("prophet")
    assert unknown.value.status == 422
    assert set(unknown.value.details["allowed"]) == {m.value for m in ForecastModel}
    for raw, status in (("0", 422), ("13", 422), ("three", 400), ("1.5", 400)):
        with pytest.raises(ApiError) as bad:
            analysis_params.months(raw)
        assert bad.value.status == status, raw
