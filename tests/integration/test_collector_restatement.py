"""When Kubecost restates an hour, the re-poll produces the same event ids with a newer
`produced_at`, and the real aggregator's rollups move to the new value exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.kubecost_sim.model import SimConfig, ground_truth_total
from shared.events import AllocationKind
from shared.timewindows import floor_hour
from tests.support.collector_harness import (
    Harness,
    collector_config,
    collector_harness,
    latest,
)
from tests.support.collector_source import restating_source

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
RESTATED_HOUR = floor_hour(NOW) - timedelta(hours=3)
DELTA_UNITS = 1_234_567  # Kubecost's 1e-5 units: 12.34567 more


async def _hourly_total(harness: Harness, hour: datetime) -> int:
    rows = await harness.fetch(
        "SELECT coalesce(sum(cost + idle_share), 0) FROM cost_hourly WHERE bucket = %s", (hour,)
    )
    return int(rows[0][0])


async def test_restated_hour_replaces_its_events_and_rollups(
    pipeline_env: dict[str, str],
) -> None:
    sim = SimConfig(seed=21, clusters=1, workloads_per_cluster=3, now=NOW)
    with restating_source(sim) as source:
        config = collector_config(
            [{"name": "restated", "base_url": source.url(0)}], restatement_hours=6
        )
        async with collector_harness(pipeline_env) as harness:
            await harness.collector(config, NOW).run(once=True)
            first = latest(await harness.events())
            await harness.aggregate()
            before = await _hourly_total(harness, RESTATED_HOUR)

            victim = next(
                e
                for e in first.values()
                if e.window_start == RESTATED_HOUR and e.kind is AllocationKind.WORKLOAD
            )
            source.restate(0, RESTATED_HOUR, victim.name, DELTA_UNITS)
            source.move_clock(LATER)
            await harness.collector(config, LATER).run(once=True)
            second = latest(await harness.events())
            await harness.aggregate()
            after = await _hourly_total(harness, RESTATED_HOUR)
            stored = await harness.fetch(
                "SELECT total_cost FROM allocation WHERE cluster_id = %s"
                " AND window_start = %s AND allocation_key = %s",
                (victim.cluster_id, RESTATED_HOUR, victim.name),
            )
            grand_total = await harness.fetch("SELECT sum(cost + idle_share) FROM cost_daily")

    hour_ids = {i for i, e in first.items() if e.window_start == RESTATED_HOUR}
    assert hour_ids == {i for i, e in second.items() if e.window_start == RESTATED_HOUR}
    for event_id in hour_ids:
        assert second[event_id].produced_at > first[event_id].produced_at
    delta_micros = DELTA_UNITS * 10
    assert second[victim.event_id].total_cost == victim.total_cost + delta_micros
    hour_truth = ground_truth_total(sim, 0, RESTATED_HOUR, RESTATED_HOUR + timedelta(hours=1))
    assert before == hour_truth * 1_000_000
    assert after == before + delta_micros
    assert stored == [(victim.total_cost + delta_micros,)]
    start = floor_hour(NOW) - timedelta(days=1)
    truth = ground_truth_total(source.config, 0, start, floor_hour(LATER))
    assert Decimal(grand_total[0][0]) == truth * 1_000_000 + delta_micros
