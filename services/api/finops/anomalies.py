"""Anomalous days in a daily cost series: robust STL decomposition, robust z-scores.

A day's expected cost is its trend plus its weekly pattern, from STL (period 7, robust, so one
spike neither drags the trend nor bends the weekly pattern). Its score is the residual's distance
from the residuals' median in units of their scaled MAD (1.4826 x MAD estimates a standard
deviation under normal noise and ignores the outliers themselves).

Two guards keep exact series honest:
- A cluster of fixed nodes costs the same every day; its residuals are ~0 and their MAD too, so
  any rounding wobble would score in the thousands. The scale never goes below 1 % of the
  series' median daily cost: at the default threshold 2, a day within 2 % of its expected cost is
  never an anomaly.
- STL's robustness weights are bisquare weights scaled by the median absolute residual; on a
  series that follows its trend and weekly pattern exactly that median is ~0, every point but
  the exact fits gets weight 0, and the decomposition falls apart. A fixed-seed perturbation of
  0.3 % of the median daily cost is added to the series the model sees (never to the actual
  costs reported); it keeps the weights defined and, being well under the 1 % floor, cannot raise
  a flag by itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERIOD = 7
SEASONAL_SMOOTHER = 13  # weeks over which the weekly pattern is smoothed (odd, >= 7)
TREND_SMOOTHER = 21  # days over which the trend is smoothed (odd, > PERIOD)
MIN_HISTORY_DAYS = 28  # four weeks: fewer and the weekly pattern is guesswork
MAD_TO_SIGMA = 1.4826
SCALE_FLOOR = 0.01  # of the median daily cost
JITTER = 0.003  # of the median daily cost
SEED = 20_250_201


@dataclass(frozen=True)
class Flag:
    index: int  # position in the series
    actual: float
    expected: float
    score: float  # signed robust z-score: positive for a spike, negative for a drop

    @property
    def direction(self) -> str:
        return "spike" if self.score > 0 else "drop"


def robust_scores(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """(expected, signed robust z) per day, or None when the series cannot be judged.

    None for fewer than MIN_HISTORY_DAYS days, and for a series whose median day costs nothing
    (a job namespace that runs now and then): every active day would be an "anomaly".
    """
    observed = np.asarray(values, dtype=np.float64)
    if len(observed) < MIN_HISTORY_DAYS:
        return None
    level = float(np.median(np.abs(observed)))
    if level <= 0:
        return None
    from statsmodels.tsa.seasonal import STL

    jitter = np.random.default_rng(SEED).normal(0.0, JITTER * level, len(observed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = STL(
            observed + jitter,
            period=PERIOD,
            seasonal=SEASONAL_SMOOTHER,
            trend=TREND_SMOOTHER,
            robust=True,
        ).fit()
    expected = np.asarray(result.trend, dtype=np.float64) + np.asarray(
        result.seasonal, dtype=np.float64
    )
    residuals = observed - expected
    centre = float(np.median(residuals))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(residuals - centre)))
    scale = max(spread, SCALE_FLOOR * level)
    return expected, (residuals - centre) / scale


def flag_days(values: Sequence[float], first: int, threshold: float) -> list[Flag] | None:
    """Days from index `first` on whose |score| exceeds `threshold`; None if not judgeable.

    The days before `first` are there only to learn the trend and the weekly pattern.
    """
    scored = robust_scores(values)
    if scored is None:
        return None
    expected, scores = scored
    return [
        Flag(i, float(values[i]), float(expected[i]), float(scores[i]))
        for i in range(max(first, 0), len(values))
        if abs(scores[i]) > threshold
    ]


def _one_off_runs(scores: np.ndarray, limit: float, longest: int) -> list[int]:
    """Positions in runs of at most `longest` consecutive days beyond `limit`, all in one
    direction, that end before the last day.

    A longer run, or one still going on the last day, may be a new level (a workload that
    started and stays) rather than a one-off, and is left alone.
    """
    days = len(scores)
    flagged = [i for i in range(days) if abs(scores[i]) > limit]
    runs: list[list[int]] = []
    for i in flagged:
        if runs and runs[-1][-1] == i - 1 and (scores[i] > 0) == (scores[i - 1] > 0):
            runs[-1].append(i)
        else:
            runs.append([i])
    return [i for run in runs if len(run) <= longest and run[-1] < days - 1 for i in run]


def without_outliers(
    values: Sequence[float], limit: float, longest: int = 2
) -> tuple[list[float], list[int]]:
    """`values` with one-off days (see `_one_off_runs`) replaced by their expected cost, and the
    positions replaced. Unchanged when the series cannot be judged (too short, median zero)."""
    cleaned = [float(v) for v in values]
    scored = robust_scores(cleaned)
    if scored is None:
        return cleaned, []
    expected, scores = scored
    replaced = _one_off_runs(scores, limit, longest)
    for i in replaced:
        cleaned[i] = max(float(expected[i]), 0.0)
    return cleaned, replaced
