"""What a collection cycle fetches, hour by hour, for every state the watermark can be in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.collector.config import parse_config
from services.collector.windows import Window, grid_chunks, plan_cycle

H = timedelta(hours=1)
NOW = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
TARGET = datetime(2026, 3, 2, 5, tzinfo=UTC)
CONFIG = parse_config(
    {
        "defaults": {"backfill_days": 2, "restatement_hours": 10, "chunk_hours": 6},
        "clusters": [{"name": "c", "base_url": "http://c"}],
    }
)


def _hours(windows: list[Window]) -> list[datetime]:
    out: list[datetime] = []
    for start, end in windows:
        cursor = start
        while cursor < end:
            out.append(cursor)
            cursor += H
    return out


def test_chunks_sit_on_a_utc_grid_and_cover_the_range_exactly() -> None:
    chunks = grid_chunks(TARGET - 14 * H, TARGET, 6)  # 15:00 the day before .. 05:00
    assert chunks == [
        (TARGET - 14 * H, TARGET - 11 * H),  # 15:00..18:00
        (TARGET - 11 * H, TARGET - 5 * H),  # 18:00..00:00
        (TARGET - 5 * H, TARGET),  # 00:00..05:00
    ]
    assert grid_chunks(TARGET, TARGET, 6) == []


def test_first_start_backfills_only_whole_hours_and_restates_nothing() -> None:
    plan = plan_cycle(NOW, None, [], CONFIG)
    assert plan.target == TARGET
    assert _hours(plan.follow) == [TARGET - 48 * H + i * H for i in range(48)]
    assert plan.restate == []
    assert plan.catching_up


def test_steady_state_follows_the_new_hour_and_restates_the_trailing_window() -> None:
    plan = plan_cycle(NOW, TARGET - H, [], CONFIG)
    assert plan.follow == [(TARGET - H, TARGET)]
    assert _hours(plan.restate) == [TARGET - 10 * H + i * H for i in range(9)]
    assert not plan.catching_up


def test_after_long_downtime_it_resumes_at_the_watermark_skipping_nothing() -> None:
    watermark = TARGET - 100 * H  # older than the 48-hour backfill horizon
    plan = plan_cycle(NOW, watermark, [], CONFIG)
    assert _hours(plan.follow) == [watermark + i * H for i in range(100)]
    assert plan.restate == []  # nothing collected lies inside the restatement window


def test_restatement_never_reaches_behind_the_backfill_horizon() -> None:
    config = parse_config(
        {
            "defaults": {"backfill_days": 1, "restatement_hours": 48, "chunk_hours": 24},
            "clusters": [{"name": "c", "base_url": "http://c"}],
        }
    )
    plan = plan_cycle(NOW, TARGET, [], config)
    assert plan.follow == []
    assert _hours(plan.restate)[0] == TARGET - 24 * H


def test_a_watermark_ahead_of_the_clock_fetches_nothing_new() -> None:
    plan = plan_cycle(NOW, TARGET + 3 * H, [], CONFIG)
    assert plan.follow == []
    assert plan.restate[-1][1] == TARGET


def test_gaps_are_retried_only_when_nothing_else_fetches_them() -> None:
    covered = (TARGET - 6 * H, TARGET - 5 * H)  # inside the restatement window
    old = (TARGET - 30 * H, TARGET - 29 * H)  # behind it, within the horizon
    straddling = (TARGET - 11 * H, TARGET - 8 * H)  # starts before the restatement window
    expired = (TARGET - 60 * H, TARGET - 54 * H)  # behind the backfill horizon
    plan = plan_cycle(NOW, TARGET - H, [covered, old, straddling, expired], CONFIG)
    assert plan.retry == [old, straddling]
    assert plan.windows == len(plan.follow) + len(plan.restate) + 2


def test_a_failed_chunk_is_covered_by_the_chunk_that_fetches_its_hours_later() -> None:
    # A restatement chunk failed at one hour; an hour later the grid cuts the same hours the
    # same way, so the re-fetching chunk covers the recorded gap whole.
    earlier = plan_cycle(NOW, TARGET - H, [], CONFIG)
    failed = earlier.restate[1]
    later = plan_cycle(NOW + H, TARGET, [failed], CONFIG)
    assert any(s <= failed[0] and failed[1] <= e for s, e in later.restate)
    assert later.retry == []
