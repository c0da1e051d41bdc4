"""A restarted collector resumes from its watermark: it fetches what is new plus the restatement
window, skips no hour, and its watermark only moves for events Kafka acknowledged."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.collector.producer import EventProducer
from services.collector.windows import Window
from services.kubecost_sim.model import SimConfig, ground_truth_total
from shared.timewindows import floor_hour
from tests.support.collector_harness import (
    by_window,
    collector_config,
    collector_harness,
    hours,
    latest,
    of_cluster,
)
from tests.support.collector_source import Request, restating_source

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)


def _span(requests: list[Request], cluster: int) -> Window:
    """The one interval a cycle's requests cover, asserting they neither overlap nor leave holes."""
    windows = sorted((r.start, r.end) for r in requests if r.cluster == cluster)
    assert windows, f"cluster {cluster} was not asked for anything"
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert end == start, f"cluster {cluster}: hole or overlap at {end}..{start}"
    return windows[0][0], windows[-1][1]


async def test_restart_fetches_new_hours_and_the_restatement_window_only(
    pipeline_env: dict[str, str],
) -> None:
    sim = SimConfig(seed=11, clusters=2, workloads_per_cluster=3, now=NOW)
    config_clusters = [{"name": f"restart-{i}"} for i in range(2)]
    with restating_source(sim) as source:
        config = collector_config(
            [{**c, "base_url": source.url(i)} for i, c in enumerate(config_clusters)],
            backfill_days=1,
            restatement_hours=5,
            chunk_hours=4,
        )
        async with collector_harness(pipeline_env) as harness:
            await harness.collector(config, NOW).run(once=True)
            first = source.take_requests()
            first_watermarks = await harness.watermarks()

            source.move_clock(LATER)
            await harness.collector(config, LATER).run(once=True)
            second = source.take_requests()
            second_watermarks = await harness.watermarks()
            events = latest(await harness.events())

    first_target, second_target = floor_hour(NOW), floor_hour(LATER)
    backfill_start = first_target - timedelta(days=1)
    for index, cluster in enumerate(config.clusters):
        assert _span(first, index) == (backfill_start, first_target)
        assert first_watermarks[cluster.id] == first_target
        # New hours (05..08) plus the 5-hour restatement window (03..05), nothing older.
        assert _span(second, index) == (second_target - timedelta(hours=5), second_target)
        assert second_watermarks[cluster.id] == second_target
        mine = of_cluster(events.values(), cluster.id)
        assert sorted(by_window(mine)) == hours(backfill_start, second_target)
        expected = ground_truth_total(source.config, index, backfill_start, second_target)
        assert sum(e.total_cost for e in mine) == expected * 1_000_000


async def test_watermark_stays_put_when_kafka_does_not_acknowledge(
    pipeline_env: dict[str, str],
) -> None:
    sim = SimConfig(seed=12, clusters=1, workloads_per_cluster=2, now=NOW)
    with restating_source(sim) as source:
        config = collector_config([{"name": "unacked", "base_url": source.url(0)}])
        cluster = config.clusters[0]
        async with collector_harness(pipeline_env) as harness:
            closed = EventProducer(harness.kafka)
            await closed.start()
            await closed.stop()
            failing = harness.collector(config, NOW)
            failing.producer = closed
            assert await failing.run(once=True) == 0
            assert failing.stats[cluster.id].errors == {"kafka": 1}
            assert await harness.watermarks() == {}
            assert await harness.gaps() == []  # the source answered; this is no gap in the data
            assert await harness.events() == []

            await harness.collector(config, NOW).run(once=True)
            watermark = (await harness.watermarks())[cluster.id]
            events = latest(await harness.events())
    assert watermark == floor_hour(NOW)
    assert sorted(by_window(events.values())) == hours(watermark - timedelta(days=1), watermark)
