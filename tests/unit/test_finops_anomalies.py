"""The anomaly maths on synthetic daily series: what must be flagged, and what must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from services.api.errors import ApiError
from services.api.finops import analysis_params
from services.api.finops.analysis_schemas import AnomalyScope
from services.api.finops.anomalies import flag_days, without_outliers
from services.api.finops.anomaly_report import ORGANIZATION, ScopedSeries, Spans, find_anomalies

WEEK = np.array([0.0, 5.0, 5.0, 5.0, 5.0, -10.0, -10.0])
DAYS = 86  # 56 days of lookback and 30 examined


def clean(days: int = DAYS, slope: float = 0.5) -> np.ndarray:
    index = np.arange(days)
    return 100 + slope * index + WEEK[index % 7]


SERIES = {
    "trend and weekly pattern": clean(),
    "fixed nodes, the same every day": np.full(DAYS, 80.0),
    "steep growth": clean(slope=3.0),
    "shrinking": 300 - clean() + 100,
    # Metering wobble well under the 1 % floor of the residual scale.
    "small wobble": clean() * (1 + np.random.default_rng(3).normal(0, 0.003, DAYS)),
}


@pytest.mark.parametrize("name", SERIES)
def test_nothing_is_flagged_on_a_clean_series(name: str) -> None:
    assert flag_days(SERIES[name], DAYS - 30, 2.0) == []


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("day", [60, 77, 84, 85])
def test_a_spike_is_flagged_on_its_day_and_nothing_else(name: str, day: int) -> None:
    values = SERIES[name].copy()
    values[day] *= 1.6
    flags = flag_days(values, DAYS - 30, 2.0)
    assert flags is not None
    assert [f.index for f in flags] == [day]
    (flag,) = flags
    assert flag.direction == "spike"
    assert flag.actual == values[day]
    assert flag.expected == pytest.approx(SERIES[name][day], rel=0.03)


@pytest.mark.parametrize("day", [58, 70, 85])
def test_a_drop_is_flagged_as_a_drop(day: int) -> None:
    values = clean()
    values[day] *= 0.4
    flags = flag_days(values, DAYS - 30, 2.0)
    assert flags is not None
    assert [(f.index, f.direction) for f in flags] == [(day, "drop")]
    assert flags[0].score < -2


def test_days_before_the_examined_ones_only_teach_the_pattern() -> None:
    values = clean()
    values[20] *= 3  # in the lookback
    assert flag_days(values, DAYS - 30, 2.0) == []
    assert [f.index for f in flag_days(values, 0, 2.0) or []] == [20]


def test_on_a_noisy_series_the_spike_has_by_far_the_highest_score() -> None:
    values = clean() * (1 + np.random.default_rng(11).normal(0, 0.04, DAYS))
    values[80] += 60
    flags = flag_days(values, DAYS - 30, 2.0)
    assert flags is not None
    ranked = sorted(flags, key=lambda f: -abs(f.score))
    assert ranked[0].index == 80
    assert all(abs(f.score) < abs(ranked[0].score) / 2 for f in ranked[1:])


def test_series_that_cannot_be_judged() -> None:
    assert flag_days(clean(27), 0, 2.0) is None  # under four weeks
    intermittent = np.zeros(DAYS)
    intermittent[::9] = 50.0  # a batch namespace running now and then
    assert flag_days(intermittent, 0, 2.0) is None
    assert flag_days(clean(28), 0, 2.0) == []


def test_outliers_are_replaced_by_their_expected_cost_for_the_forecast() -> None:
    values = clean()
    values[80] *= 3
    values[40] *= 0.2
    cleaned, replaced = without_outliers(values, 5.0)
    assert replaced == [40, 80]
    assert cleaned[80] == pytest.approx(clean()[80], rel=0.03)
    assert cleaned[40] == pytest.approx(clean()[40], rel=0.03)
    untouched = [i for i in range(DAYS) if i not in (40, 80)]
    assert [cleaned[i] for i in untouched] == [values[i] for i in untouched]
    assert without_outliers(clean(20), 5.0) == (list(clean(20)), [])


@pytest.mark.parametrize("days_ago", [1, 3, 10, 30])
def test_a_new_level_is_not_mistaken_for_outliers(days_ago: int) -> None:
    values = clean()
    values[DAYS - days_ago :] += 80  # a workload that started and stays
    assert without_outliers(values, 5.0)[1] == []


def test_only_short_runs_before_the_last_day_are_one_offs() -> None:
    values = clean()
    values[50:52] *= 2  # two days: one-off
    values[60:63] *= 2  # three days: may be a level, kept
    values[85] *= 2  # yesterday: may be the start of a level, kept
    assert without_outliers(values, 5.0)[1] == [50, 51]


NOW = datetime(2025, 6, 20, 15, 30, tzinfo=UTC)


def scoped(scope: AnomalyScope, values: np.ndarray, spans: Spans) -> ScopedSeries:
    first = spans.fit.end - len(values) * timedelta(days=1)
    return ScopedSeries(
        scope,
        [(first + i * timedelta(days=1), round(v * 1_000_000)) for i, v in enumerate(values)],
    )


def test_the_report_names_scope_day_amounts_and_sorts_by_score() -> None:
    spans = Spans.of(30, NOW)
    assert spans.window.end == datetime(2025, 6, 20, tzinfo=UTC)  # today is not examined
    assert spans.window.start == datetime(2025, 5, 21, tzinfo=UTC)
    assert spans.fit.start == datetime(2025, 3, 26, tzinfo=UTC)
    ml = AnomalyScope("namespace", cluster_id="c1", cluster_name="east", namespace="ml")
    small, big = clean(), clean()
    small[70] *= 1.5
    big[80] *= 3
    report = find_anomalies(
        [scoped(ORGANIZATION, small, spans), scoped(ml, big, spans)],
        spans,
        30,
        Decimal("2.0"),
    )
    assert report.reason is None
    assert report.scopes_analysed == 2
    assert report.total_found == 2
    first, second = report.anomalies
    assert first.scope == ml
    assert first.score > second.score
    assert first.date == "2025-06-14T00:00:00Z"  # index 80 of 86 days ending yesterday
    assert first.direction == "spike"
    assert first.actual == Decimal(str(round(big[80], 2)))
    assert first.deviation == first.actual - first.expected
    assert first.deviation_percent is not None
    assert 180 < first.deviation_percent < 220
    assert second.scope == ORGANIZATION
    assert second.date == "2025-06-04T00:00:00Z"


def test_too_little_history_is_an_empty_list_with_a_reason() -> None:
    spans = Spans.of(30, NOW)
    short = find_anomalies([scoped(ORGANIZATION, clean(20), spans)], spans, 30, Decimal(2))
    assert short.anomalies == []
    assert short.scopes_analysed == 0
    assert short.reason is not None
    assert "at least 28" in short.reason
    empty = find_anomalies([ScopedSeries(ORGANIZATION, [])], spans, 30, Decimal(2))
    assert empty.reason is not None
    assert "no cost data" in empty.reason


def test_anomaly_parameters() -> None:
    assert analysis_params.days(None) == 30
    assert analysis_params.threshold(None) == Decimal("2.0")
    assert analysis_params.threshold(" 3.5 ") == Decimal("3.5")
    assert analysis_params.threshold("100") == Decimal(100)
    for raw, status in (
        ("0", 422),
        ("-1", 422),
        ("100.01", 422),
        ("two", 400),
        ("nan", 400),
        ("inf", 400),
        ("1e3", 400),
        ("", 400),
    ):
        with pytest.raises(ApiError) as bad:
            analysis_params.threshold(raw)
        assert bad.value.status == status, raw
    for raw, status in (("0", 422), ("366", 422), ("week", 400)):
        with pytest.raises(ApiError) as bad:
            analysis_params.days(raw)
        assert bad.value.status == status, raw
