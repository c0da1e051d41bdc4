"""Every dollar the simulator reports reaches Kafka exactly once, and each window's idle pool is
spread over its workloads to the micro-unit (real HTTP, real Kafka, real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.kubecost_sim.model import SimConfig, ground_truth_total
from services.kubecost_sim.server import serve_in_thread
from shared.events import AllocationKind
from shared.progress import LogProgress
from shared.timewindows import floor_hour
from tests.support.collector_harness import (
    by_window,
    collector_config,
    collector_harness,
    hours,
    latest,
    of_cluster,
)
from tests.support.collector_logs import logged_lines

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
SIM = SimConfig(seed=7, clusters=3, workloads_per_cluster=4, now=NOW)


async def test_events_sum_exactly_to_the_simulator_ground_truth(
    pipeline_env: dict[str, str],
) -> None:
    with serve_in_thread(SIM) as base_url:
        # One cluster per API shape: Kubecost by pod, OpenCost's /allocation/compute, by container.
        config = collector_config(
            [
                {"name": "totals-kubecost", "base_url": f"{base_url}/clusters/0"},
                {
                    "name": "totals-opencost",
                    "base_url": f"{base_url}/clusters/1",
                    "flavor": "opencost",
                },
                {
                    "name": "totals-container",
                    "base_url": f"{base_url}/clusters/2",
                    "aggregate": "container",
                },
            ]
        )
        async with collector_harness(pipeline_env) as harness:
            collector = harness.collector(config, NOW, progress=LogProgress(every=2))
            with logged_lines("shared.progress") as lines:
                produced = await collector.run(once=True)
            raw = await harness.events()
            watermarks = await harness.watermarks()
    events = latest(raw)
    assert produced == len(raw)
    target = floor_hour(NOW)
    start = target - timedelta(days=1)
    for index, cluster in enumerate(config.clusters):
        mine = of_cluster(events.values(), cluster.id)
        expected = ground_truth_total(SIM, index, start, target) * 1_000_000
        assert sum(e.total_cost for e in mine) == expected, cluster.name
        windows = by_window(mine)
        assert sorted(windows) == hours(start, target), cluster.name
        for window_start, rows in windows.items():
            pool = [e for e in rows if e.kind is AllocationKind.IDLE]
            carriers = [e for e in rows if not e.kind.is_idle_pool]
            assert len(pool) == 1, (cluster.name, window_start)
            assert pool[0].cost == pool[0].idle_share == 0
            assert sum(e.idle_share for e in carriers) == pool[0].total_cost
            assert sum(e.cost + e.idle_share for e in rows) == sum(e.total_cost for e in rows)
        assert watermarks[cluster.id] == target
        stats = collector.stats[cluster.id]
        assert stats.polls == 1
        assert stats.windows_fetched == 5  # 05..06, then the 6-hour grid, then 00..05
        assert stats.events_produced == len(of_cluster(raw, cluster.id))
        assert stats.errors == {}
        progress = [line for line in lines if f" {cluster.name} " in line]
        assert [line.split(" windows")[0] for line in progress] == [
            f"backfill progress: {cluster.name} 2/5",
            f"backfill progress: {cluster.name} 4/5",
        ]
        labels = {"cluster": cluster.name}
        assert REGISTRY.get_sample_value(
            "costpipe_collector_events_produced_total", labels
        ) == float(stats.events_produced)
        assert (
            REGISTRY.get_sample_value("costpipe_collector_watermark_seconds", labels)
            == target.timestamp()
        )
