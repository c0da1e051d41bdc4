"""The FinOps parameter rules: window syntax, date ranges, rollup choice, codes for mistakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.api.errors import ApiError
from services.api.finops.params import GroupBy, ResourceType, choice, group_by, integer, label
from services.api.finops.windows import Span, Window, parse_range, parse_window, source_resolution
from shared.timewindows import Resolution

NOW = datetime(2026, 3, 31, 15, 20, tzinfo=UTC)  # a Tuesday


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def code_of(call: object, *args: object) -> tuple[int, str, dict[str, object]]:
    assert callable(call)
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value.status, caught.value.code, caught.value.details


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("24h", at(2026, 3, 30, 16), at(2026, 3, 31, 16)),
        ("30d", at(2026, 3, 2), at(2026, 4, 1)),
        ("1d", at(2026, 3, 31), at(2026, 4, 1)),
        ("daily", at(2026, 3, 31), at(2026, 4, 1)),
        ("1w", at(2026, 3, 30), at(2026, 4, 6)),
        ("weekly", at(2026, 3, 30), at(2026, 4, 6)),
        ("2w", at(2026, 3, 23), at(2026, 4, 6)),
        ("3m", at(2026, 1, 1), at(2026, 4, 1)),
        (" Monthly ", at(2026, 3, 1), at(2026, 4, 1)),
    ],
)
def test_windows_end_with_the_current_bucket(text: str, start: datetime, end: datetime) -> None:
    assert parse_window("window", text, "30d").ending_now(NOW) == Span(start, end)


def test_comparison_window_ends_where_the_window_starts() -> None:
    span = parse_window("window", "7d", "30d").ending_now(NOW)
    assert Window(2, "d").before(span) == Span(at(2026, 3, 23), at(2026, 3, 25))
    # Calendar months keep the day of month, clamped to the shorter month.
    assert Window(1, "m").before(Span(at(2026, 3, 31), at(2026, 4, 1))).start == at(2026, 2, 28)
    assert Window(1, "m").before(Span(at(2024, 3, 31), at(2024, 4, 1))).start == at(2024, 2, 29)
    assert Window(13, "m").back_from(at(2026, 1, 1)) == at(2024, 12, 1)


@pytest.mark.parametrize(
    ("text", "status", "allowed"),
    [
        ("7x", 422, ["h", "d", "w", "m"]),
        ("quarterly", 422, ["daily", "weekly", "monthly"]),
        ("0d", 422, None),
        ("745h", 422, None),
        ("61m", 422, None),
        ("9" * 5000 + "d", 422, None),
        ("-7d", 400, None),
        ("7 d", 400, None),
        ("", 400, None),
        ("7d;drop", 400, None),
    ],
)
def test_window_mistakes(text: str, status: int, allowed: list[str] | None) -> None:
    got_status, code, details = code_of(parse_window, "window", text, "30d")
    assert got_status == status
    assert code == ("BAD_REQUEST" if status == 400 else "VALIDATION_ERROR")
    if allowed is not None:
        assert details["allowed"] == allowed


@pytest.mark.parametrize(
    ("start", "end", "span"),
    [
        (None, None, Span(at(2026, 3, 2), at(2026, 4, 1))),
        (None, "2026-02-28", Span(at(2026, 1, 30), at(2026, 3, 1))),
        ("2026-02-01", "2026-02-28T00:00:00Z", Span(at(2026, 2, 1), at(2026, 2, 28))),
        ("2026-02-01", "2026-03-01T00:00:01+01:00", Span(at(2026, 2, 1), at(2026, 3, 1))),
        ("2026-03-01T10:00:00-05:00", None, Span(at(2026, 3, 1), at(2026, 4, 1))),
        ("2026-03-01T23:30:00-05:00", None, Span(at(2026, 3, 2), at(2026, 4, 1))),
        ("2026-03-01T10:00", "2026-03-01T10:00", Span(at(2026, 3, 1), at(2026, 3, 2))),
        ("20260301", "20260302", Span(at(2026, 3, 1), at(2026, 3, 3))),
    ],
)
def test_date_ranges_are_whole_utc_days(start: str | None, end: str | None, span: Span) -> None:
    assert parse_range(start, end, NOW) == span


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        ("yesterday", None, 400),
        ("2026-02-30", None, 400),
        ("2026-03-01", "x" * 100, 400),
        ("2026-03-02", "2026-03-01", 422),
        ("1999-12-31", None, 422),
        (None, "9999-12-31T23:59:59-05:00", 422),
        ("2020-01-01", "2026-01-01", 422),
    ],
)
def test_date_mistakes(start: str | None, end: str | None, status: int) -> None:
    assert code_of(parse_range, start, end, NOW)[0] == status


@pytest.mark.parametrize(
    ("span", "granularity", "source"),
    [
        (Span(at(2026, 1, 1), at(2026, 4, 1)), None, Resolution.MONTHLY),
        (Span(at(2026, 1, 1), at(2026, 4, 1)), Resolution.MONTHLY, Resolution.MONTHLY),
        # ISO weeks straddle month starts: months must be rebuilt from days.
        (Span(at(2026, 1, 1), at(2026, 4, 1)), Resolution.WEEKLY, Resolution.DAILY),
        (Span(at(2026, 1, 1), at(2026, 4, 1)), Resolution.DAILY, Resolution.DAILY),
        (Span(at(2026, 3, 30), at(2026, 4, 6)), None, Resolution.WEEKLY),
        (Span(at(2026, 3, 30), at(2026, 4, 6)), Resolution.MONTHLY, Resolution.DAILY),
        (Span(at(2026, 3, 2), at(2026, 4, 1)), Resolution.WEEKLY, Resolution.DAILY),
        (Span(at(2026, 3, 2), at(2026, 4, 1)), Resolution.HOURLY, Resolution.HOURLY),
        (Span(at(2026, 3, 30, 16), at(2026, 3, 31, 16)), Resolution.DAILY, Resolution.HOURLY),
    ],
)
def test_source_rollup_tiles_span_and_buckets(
    span: Span, granularity: Resolution | None, source: Resolution
) -> None:
    assert source_resolution(span, granularity) is source


def test_integers() -> None:
    assert integer("limit", None, 10, 1, 100) == 10
    assert integer("limit", " 7 ", 10, 1, 100) == 7
    for text in ("1.5", "ten", "", "٣", "+3"):
        assert code_of(integer, "limit", text, 10, 1, 100)[:2] == (400, "BAD_REQUEST")
    for text in ("0", "-1", "101", "9" * 40):
        status, code, details = code_of(integer, "limit", text, 10, 1, 100)
        assert (status, code) == (422, "VALIDATION_ERROR")
        assert (details["minimum"], details["maximum"]) == (1, 100)


def test_choices_and_groupings() -> None:
    assert choice("resourceType", "Storage", ResourceType) is ResourceType.STORAGE
    assert choice("resourceType", None, ResourceType) is None
    status, _, details = code_of(choice, "resourceType", "disk", ResourceType)
    assert status == 422
    assert details["allowed"] == [r.value for r in ResourceType]
    assert group_by("org", None) is GroupBy.TEAM
    assert group_by("user", None) is GroupBy.OWNER
    assert group_by(None, GroupBy.NAMESPACE) is GroupBy.NAMESPACE
    status, _, details = code_of(group_by, "pod", None)
    assert status == 422
    assert details["allowed"] == [
        "cluster",
        "namespace",
        "workload",
        "node_group",
        "service",
        "team",
        "owner",
        "resource_type",
        "org",
        "user",
    ]


def test_labels() -> None:
    assert label("orgId", None) is None
    assert label("orgId", "research") == "research"
    assert code_of(label, "orgId", "")[0] == 400
    assert code_of(label, "orgId", "x" * 254)[0] == 400
    assert code_of(label, "orgId", "a\x00b")[0] == 400
    assert label("userId", "Zoë Dupont") == "Zoë Dupont"
