"""The cost-trend query model's validation rules, each with the spec's error code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.api.cost_trend import anchored_window, series
from services.api.errors import ApiError
from services.api.trend_params import CostMode, TrendType, parse_trend_query
from shared.timewindows import Resolution

DAY = 86400
T0 = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp())


def parse(
    start: object = T0,
    end: object = T0 + 7 * DAY,
    type_: str | None = None,
    granularity: str | None = None,
    cost_mode: str | None = None,
    default: CostMode | None = CostMode.FULLY_LOADED,
):
    return parse_trend_query(
        None if start is None else str(start),
        None if end is None else str(end),
        type_,
        granularity,
        cost_mode,
        default,
    )


def code_of(**kwargs: object) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        parse(**kwargs)  # type: ignore[arg-type]
    return caught.value.status, caught.value.code


def test_auto_is_hourly_up_to_14_days_inclusive_then_daily() -> None:
    assert parse(end=T0 + 14 * DAY).granularity is Resolution.HOURLY
    assert parse(end=T0 + 14 * DAY + 1).granularity is Resolution.DAILY


def test_hourly_is_capped_at_60_days() -> None:
    assert parse(end=T0 + 60 * DAY, granularity="hourly").granularity is Resolution.HOURLY
    assert code_of(end=T0 + 60 * DAY + 1, granularity="hourly") == (422, "VALIDATION_ERROR")


def test_breakdown_rejects_hourly() -> None:
    assert code_of(type_="breakdown", granularity="hourly") == (422, "VALIDATION_ERROR")
    assert parse(type_="breakdown").granularity is Resolution.DAILY


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"start": None}, (400, "BAD_REQUEST")),
        ({"end": None}, (400, "BAD_REQUEST")),
        ({"start": "abc"}, (400, "BAD_REQUEST")),
        ({"start": "1.5"}, (400, "BAD_REQUEST")),
        ({"end": T0}, (422, "VALIDATION_ERROR")),
        ({"end": T0 - 1}, (422, "VALIDATION_ERROR")),
        ({"end": T0 + 6 * 366 * DAY}, (422, "VALIDATION_ERROR")),
        ({"granularity": "yearly"}, (422, "VALIDATION_ERROR")),
        ({"type_": "sum"}, (422, "VALIDATION_ERROR")),
        ({"cost_mode": "all"}, (422, "INVALID_COST_MODE")),
        ({"cost_mode": "fully_loaded", "default": None}, (422, "INVALID_COST_MODE")),
    ],
)
def test_errors_carry_the_documented_codes(
    kwargs: dict[str, object], expected: tuple[int, str]
) -> None:
    assert code_of(**kwargs) == expected


def test_run_rate_projects_whole_buckets_to_a_730_hour_month() -> None:
    query = parse(end=T0 + 3 * DAY, granularity="daily", type_="run_rate")
    window = anchored_window(query)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    costs = {start: 24_000_000, start + timedelta(days=1): 12_000_000}
    points = series(query, window, costs, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert [str(p[1]) for p in points] == ["730", "365", "0"]


def test_run_rate_of_the_bucket_in_progress_uses_elapsed_hours() -> None:
    query = parse(end=T0 + DAY, granularity="daily")
    window = anchored_window(query)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    points = series(query, window, {start: 6_000_000}, now=start + timedelta(hours=6, minutes=30))
    assert points[0][1] * 1 == 730  # 6 units over 6 elapsed hours -> 1/h -> 730/month


def test_window_is_anchored_to_whole_buckets_and_future_buckets_are_left_out() -> None:
    query = parse(
        start=T0 + 3600 * 5, end=T0 + 3 * DAY + 60, granularity="daily", type_="breakdown"
    )
    window = anchored_window(query)
    assert window.start == datetime(2026, 5, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 5, 5, tzinfo=UTC)
    points = series(query, window, {}, now=datetime(2026, 5, 2, 12, tzinfo=UTC))
    assert [p[0].day for p in points] == [1, 2]
    assert all(p[1] == 0 for p in points)
    assert query.type is TrendType.BREAKDOWN
