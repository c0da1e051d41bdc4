"""Choosing the rollup mode, and the buckets a continuous-mode batch refreshes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.aggregator.continuous import (
    DAILY,
    HOURLY,
    MONTHLY,
    WEEKLY,
    bucket_ranges,
    refresh_order,
)
from shared.db.migrations import MigrationError, available_migrations, resolve_rollup_mode


def test_auto_follows_the_license_and_managed_runs_anywhere() -> None:
    assert resolve_rollup_mode("auto", "timescale") == "continuous"
    assert resolve_rollup_mode("auto", "apache") == "managed"
    assert resolve_rollup_mode("managed", "timescale") == "managed"
    assert resolve_rollup_mode("continuous", "timescale") == "continuous"


def test_continuous_is_refused_without_the_timescale_license() -> None:
    with pytest.raises(MigrationError, match="needs TimescaleDB with the Timescale license"):
        resolve_rollup_mode("continuous", "apache")


def test_a_database_keeps_the_mode_its_rollups_were_created_in() -> None:
    assert resolve_rollup_mode("auto", "timescale", recorded="managed") == "managed"
    assert resolve_rollup_mode("auto", "timescale", recorded="continuous") == "continuous"
    with pytest.raises(MigrationError, match="cannot be switched"):
        resolve_rollup_mode("continuous", "timescale", recorded="managed")
    with pytest.raises(MigrationError, match="Timescale license"):
        resolve_rollup_mode("auto", "apache", recorded="continuous")


def test_continuous_files_replace_their_version_and_nothing_else() -> None:
    managed = {m.version: m.name for m in available_migrations("managed")}
    continuous = {m.version: m.name for m in available_migrations("continuous")}
    assert managed.keys() == continuous.keys()
    assert continuous[1] == managed[1]  # the core schema is shared
    assert continuous[2] == "0002_continuous_rollups.sql"
    assert all("continuous" not in name for name in managed.values())


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_touched_buckets_are_refreshed_whole_and_adjacent_ones_merged() -> None:
    times = [t("2024-02-29 23:30"), t("2024-03-01 00:10"), t("2024-03-04 05:00")]
    assert bucket_ranges(times, HOURLY) == [
        (t("2024-02-29 23:00"), t("2024-03-01 01:00")),
        (t("2024-03-04 05:00"), t("2024-03-04 06:00")),
    ]
    assert bucket_ranges(times, DAILY) == [
        (t("2024-02-29"), t("2024-03-02")),
        (t("2024-03-04"), t("2024-03-05")),
    ]
    # Weeks start on Monday (2024-02-26 and 2024-03-04 are Mondays).
    assert bucket_ranges(times, WEEKLY) == [(t("2024-02-26"), t("2024-03-11"))]
    assert bucket_ranges(times, MONTHLY) == [(t("2024-02-01"), t("2024-04-01"))]
    assert bucket_ranges([t("2024-12-31 12:00")], MONTHLY) == [(t("2024-12-01"), t("2025-01-01"))]


def test_every_aggregate_is_refreshed_after_the_one_it_reads() -> None:
    order = [view for view, _ in refresh_order(("cost", "cost_cluster"))]
    assert order.index("cost_hourly") < order.index("cost_cluster_hourly")
    assert order.index("cost_hourly") < order.index("cost_daily") < order.index("cost_weekly")
    assert order.index("cost_daily") < order.index("cost_monthly")
    assert order.index("cost_cluster_daily") < order.index("cost_cluster_monthly")
