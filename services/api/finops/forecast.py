"""Daily cost forecasts with statsmodels: four named models, and an AICc choice among them.

Why whole simulated paths rather than each day's interval: the API reports months, and the
interval of a month's total is not the sum of its days' intervals (errors are correlated from one
day to the next through the model's level and trend; adding daily bounds assumes they are
perfectly correlated and overstates the width). Each model's own `simulate` draws future paths
from its fitted error process; the quantiles of their monthly sums are the monthly bounds. The
seed is fixed, so the same history always gives the same answer.

Values are divided by their mean before fitting: the optimizers of the exponential smoothing
models behave much better on numbers near 1 than on raw currency amounts, and the scale cancels
out of every comparison between models (they all see the same data).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

PERIOD = 7  # days: the weekly pattern of working days and weekends
MIN_HISTORY_DAYS = 14  # two weeks: below this no model has enough data to fit at all
SEASONAL_HISTORY_DAYS = 28  # four weeks: below this a weekly pattern is not estimated
REPETITIONS = 1000
SEED = 20_250_201
SSE_FLOOR = 1e-12  # per observation, on the scaled data: keeps ln(SSE) finite for exact fits


class ForecastModel(StrEnum):
    AUTO = "auto"
    LINEAR = "linear"
    HOLT_WINTERS = "holt_winters"
    ETS = "ets"
    ARIMA = "arima"


class FitError(Exception):
    """A model could not be fitted to the history (or produced non-finite numbers)."""


@dataclass(frozen=True)
class Fitted:
    """A model's in-sample one-step errors and its forecast, on the scaled data."""

    model: ForecastModel
    parameters: int  # estimated parameters, the error variance included
    residuals: Array
    mean: Array  # (horizon,)
    paths: Array  # (horizon, REPETITIONS)


@dataclass(frozen=True)
class Score:
    model: ForecastModel
    aicc: float | None  # None: the model failed, or has too many parameters for the history


@dataclass(frozen=True)
class DailyForecast:
    """Point forecasts and simulated paths per future day, in the history's units, never < 0."""

    model: ForecastModel
    mean: Array
    paths: Array
    scores: tuple[Score, ...]
    fallback: str | None  # why the requested model was replaced by `linear`, if it was


def seasonal(history: Array) -> bool:
    return len(history) >= SEASONAL_HISTORY_DAYS


def _linear(y: Array, horizon: int, rng: np.random.Generator) -> Fitted:
    """Ordinary least squares on a constant and the day number.

    Paths draw the coefficients from their estimated sampling distribution and add independent
    daily errors, so the bounds carry the uncertainty of the slope as well as the daily noise.
    """
    from statsmodels.regression.linear_model import OLS

    days = np.arange(len(y), dtype=np.float64)
    result = OLS(y, np.column_stack([np.ones_like(days), days])).fit()
    future = np.arange(len(y), len(y) + horizon, dtype=np.float64)
    design = np.column_stack([np.ones_like(future), future])
    params = np.asarray(result.params, dtype=np.float64)
    draws = rng.multivariate_normal(
        params, np.asarray(result.cov_params()), size=REPETITIONS, check_valid="ignore"
    )
    noise = rng.normal(0.0, math.sqrt(max(float(result.scale), 0.0)), (horizon, REPETITIONS))
    return Fitted(
        ForecastModel.LINEAR,
        3,
        np.asarray(result.resid, dtype=np.float64),
        design @ params,
        design @ draws.T + noise,
    )


def _holt_winters(y: Array, horizon: int, rng: np.random.Generator) -> Fitted:
    """Additive Holt-Winters (trend, and the weekly pattern once there are four weeks)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    weekly = seasonal(y)
    result = ExponentialSmoothing(
        y,
        trend="add",
        seasonal="add" if weekly else None,
        seasonal_periods=PERIOD if weekly else None,
        initialization_method="estimated",
    ).fit()
    paths = result.simulate(horizon, anchor="end", repetitions=REPETITIONS, error="add", rng=rng)
    return Fitted(
        ForecastModel.HOLT_WINTERS,
        int(result.k) + 1,
        np.asarray(result.resid, dtype=np.float64),
        np.asarray(result.forecast(horizon), dtype=np.float64),
        np.asarray(paths, dtype=np.float64).reshape(horizon, REPETITIONS),
    )


def _ets(y: Array, horizon: int, rng: np.random.Generator) -> Fitted:
    """ETS(A,A,A) by maximum likelihood (ETS(A,A,N) before four weeks of history)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    weekly = seasonal(y)
    result = ETSModel(
        y,
        error="add",
        trend="add",
        seasonal="add" if weekly else None,
        seasonal_periods=PERIOD if weekly else None,
    ).fit(disp=False)
    paths = result.simulate(horizon, anchor="end", repetitions=REPETITIONS, rng=rng)
    return Fitted(
        ForecastModel.ETS,
        int(result.df_model),
        np.asarray(result.resid, dtype=np.float64),
        np.asarray(result.forecast(horizon), dtype=np.float64),
        np.asarray(paths, dtype=np.float64).reshape(horizon, REPETITIONS),
    )


def _arima(y: Array, horizon: int, rng: np.random.Generator) -> Fitted:
    """SARIMAX(1,1,1) with drift, and a weekly AR term once there are four weeks of history.

    A small order on purpose: daily cost series are short and smooth, and every extra state
    makes the fit slower without improving the forecast.
    """
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    weekly = seasonal(y)
    result = SARIMAX(
        y,
        order=(1, 1, 1),
        seasonal_order=(1, 0, 0, PERIOD) if weekly else (0, 0, 0, 0),
        trend="c",
    ).fit(disp=False)
    paths = result.simulate(horizon, anchor="end", repetitions=REPETITIONS, rng=rng)
    return Fitted(
        ForecastModel.ARIMA,
        len(result.params),
        np.asarray(result.resid, dtype=np.float64),
        np.asarray(result.forecast(horizon), dtype=np.float64),
        np.asarray(paths, dtype=np.float64).reshape(horizon, REPETITIONS),
    )


FITTERS: dict[ForecastModel, Callable[[Array, int, np.random.Generator], Fitted]] = {
    ForecastModel.LINEAR: _linear,
    ForecastModel.HOLT_WINTERS: _holt_winters,
    ForecastModel.ETS: _ets,
    ForecastModel.ARIMA: _arima,
}


def burn_in(observations: int) -> int:
    """Leading days left out of every model's score: the ARIMA's first errors come from its
    diffuse start, and all models must be scored on the same days to be comparable."""
    return 2 * PERIOD if observations >= SEASONAL_HISTORY_DAYS else PERIOD


def aicc(fitted: Fitted) -> float | None:
    """AICc from the one-step errors after the burn-in, with each model's own parameter count.

    The libraries' own AICs are not comparable with each other (Holt-Winters uses the sum of
    squares, the state space models an exact likelihood with different burn-ins), so every model
    is scored here with the same Gaussian formula on the same days. None when the history is too
    short for that many parameters.
    """
    errors = fitted.residuals[burn_in(len(fitted.residuals)) :]
    count, k = len(errors), fitted.parameters
    if count - k - 1 <= 0:
        return None
    sse = max(float(np.sum(errors * errors)), SSE_FLOOR * count)
    return count * math.log(sse / count) + 2 * k + 2 * k * (k + 1) / (count - k - 1)


def fit(model: ForecastModel, history: Array, horizon: int) -> Fitted:
    """One model on (scaled) history; any failure of the library becomes FitError."""
    try:
        with warnings.catch_warnings():
            # Convergence and start-value warnings are expected on short or perfectly regular
            # series; the result is judged by its score and by the checks below instead.
            warnings.simplefilter("ignore")
            fitted = FITTERS[model](history, horizon, np.random.default_rng(SEED))
    # numpy's LinAlgError is a ValueError; statsmodels raises little else on odd data.
    except (ValueError, ArithmeticError, IndexError, RuntimeError) as exc:
        raise FitError(f"{model.value}: {exc}") from exc
    if not (np.all(np.isfinite(fitted.mean)) and np.all(np.isfinite(fitted.paths))):
        raise FitError(f"{model.value}: the forecast is not finite")
    return fitted


def _scale(values: Array) -> float:
    mean = float(np.mean(values))
    if mean > 0:
        return mean
    largest = float(np.max(np.abs(values)))
    return largest if largest > 0 else 1.0


def _daily(
    fitted: Fitted, scale: float, scores: list[Score], fallback: str | None
) -> DailyForecast:
    return DailyForecast(
        fitted.model,
        np.maximum(fitted.mean * scale, 0.0),
        np.maximum(fitted.paths * scale, 0.0),
        tuple(scores),
        fallback,
    )


def forecast_daily(
    history: Sequence[float], horizon: int, model: ForecastModel = ForecastModel.AUTO
) -> DailyForecast:
    """Forecast `horizon` days after `history` (at least MIN_HISTORY_DAYS values).

    `auto` fits every model and keeps the lowest AICc (ties go to the simpler model, listed
    first). A named model that cannot be fitted falls back to `linear`, which always can, and
    says so in `fallback`.
    """
    values = np.asarray(history, dtype=np.float64)
    if len(values) < MIN_HISTORY_DAYS:
        raise FitError(f"at least {MIN_HISTORY_DAYS} days of history are needed")
    scale = _scale(values)
    scaled = values / scale
    if model is not ForecastModel.AUTO:
        try:
            fitted = fit(model, scaled, horizon)
        except FitError as exc:
            fitted = fit(ForecastModel.LINEAR, scaled, horizon)
            return _daily(fitted, scale, [Score(model, None)], f"{exc}; used linear instead")
        return _daily(fitted, scale, [Score(model, aicc(fitted))], None)
    best: tuple[float, Fitted] | None = None
    scores = []
    for candidate in FITTERS:
        try:
            fitted = fit(candidate, scaled, horizon)
        except FitError:
            scores.append(Score(candidate, None))
            continue
        score = aicc(fitted)
        scores.append(Score(candidate, score))
        if score is not None and (best is None or score < best[0]):
            best = (score, fitted)
    if best is None:
        return _daily(fit(ForecastModel.LINEAR, scaled, horizon), scale, scores, None)
    return _daily(best[1], scale, scores, None)
