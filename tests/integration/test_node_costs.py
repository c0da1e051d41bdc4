"""Node costs end to end: simulator -> collector -> Kafka (assets topic) -> aggregator ->
`node_cost_*` rollups, exact to the micro-unit at every level; then restatements and stale
replays of asset events, and invalid ones sent to the dead-letter topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from msgspec.structs import replace

from services.aggregator.consumer import Aggregator, AggregatorStats
from services.kubecost_sim.model import SimConfig, asset_ground_truth
from services.kubecost_sim.server import serve_in_thread
from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, AssetType
from shared.ids import asset_event_id
from shared.settings import AggregatorSettings
from shared.timewindows import Resolution, buckets, floor_hour, next_bucket
from tests.support.aggregator_helpers import read_topic
from tests.support.collector_harness import Harness, collector_config, collector_harness

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)  # a Monday: the day and week before it are whole
SIM = SimConfig(seed=7, clusters=2, workloads_per_cluster=4, now=NOW)
TYPES = {"Node": "node", "Disk": "disk", "LoadBalancer": "load_balancer"}
LEVELS = {
    "node_cost_hourly": Resolution.HOURLY,
    "node_cost_daily": Resolution.DAILY,
    "node_cost_weekly": Resolution.WEEKLY,
    "node_cost_monthly": Resolution.MONTHLY,
}
Row = tuple[int, int, int, int]  # asset-hours, cpu, ram, total (micro-units)


def _micros(value: Decimal) -> int:
    return int(value * 1_000_000)


def _truth(index: int, start: datetime, end: datetime) -> dict[tuple[str, str], Row]:
    return {
        (TYPES[kind], group): (
            t.asset_hours,
            _micros(t.cpu_cost),
            _micros(t.ram_cost),
            _micros(t.total_cost),
        )
        for (kind, group), t in asset_ground_truth(SIM, index, start, end).items()
    }


async def _rollup(harness: Harness, table: str) -> dict[tuple[object, ...], Row]:
    rows = await harness.fetch(
        f"SELECT cluster_id, bucket, asset_type, node_group, row_count, cpu_cost, ram_cost,"
        f" total_cost FROM {table}"
    )
    return {tuple(r[:4]): (r[4], r[5], r[6], r[7]) for r in rows}


async def test_node_cost_rollups_equal_the_simulator_asset_totals(
    pipeline_env: dict[str, str],
) -> None:
    target = floor_hour(NOW)
    start = target - timedelta(days=1)
    with serve_in_thread(SIM) as base_url:
        config = collector_config(
            [
                {"name": "nodes-kubecost", "base_url": f"{base_url}/clusters/0"},
                {
                    "name": "nodes-opencost",
                    "base_url": f"{base_url}/clusters/1",
                    "flavor": "opencost",
                },
            ]
        )
        async with collector_harness(pipeline_env) as harness:
            collector = harness.collector(config, NOW)
            await collector.run(once=True)
            await harness.aggregate()
            rollups = {table: await _rollup(harness, table) for table in LEVELS}
            identity = await harness.fetch(
                "SELECT n.cluster_id, n.node, a.allocated FROM"
                " (SELECT cluster_id, sum(cpu_cost + ram_cost + gpu_cost) AS node"
                "  FROM node_cost_daily WHERE asset_type = 'node' GROUP BY cluster_id) n"
                " JOIN (SELECT cluster_id, sum(cpu_cost + ram_cost + gpu_cost) AS allocated"
                "  FROM cost_daily GROUP BY cluster_id) a USING (cluster_id)"
            )
    for index, cluster in enumerate(config.clusters):
        assert collector.stats[cluster.id].errors == {}
        assert collector.stats[cluster.id].asset_events_produced == sum(
            hours for hours, *_ in _truth(index, start, target).values()
        )
        for table, resolution in LEVELS.items():
            found = {k[1:]: v for k, v in rollups[table].items() if k[0] == cluster.id}
            wanted = {}
            for bucket in buckets(start, target, resolution):
                window = (max(bucket, start), min(next_bucket(bucket, resolution), target))
                for (kind, group), row in _truth(index, *window).items():
                    wanted[(bucket, kind, group)] = row
            assert found == wanted, (table, cluster.name)
    # The simulator's identity, through the whole pipeline: what the nodes cost is what the
    # allocations (idle included) cost.
    assert len(identity) == 2
    assert all(node == allocated for _, node, allocated in identity)


def _asset(
    cluster_id: uuid.UUID, hour: datetime, key: str, total: int, group: str, produced: datetime
) -> AssetCostEvent:
    return AssetCostEvent(
        schema_version=ASSET_SCHEMA_VERSION,
        event_id=asset_event_id(cluster_id, hour, key),
        organization_id=uuid.UUID(int=1),
        cluster_id=cluster_id,
        cluster_name="restated",
        window_start=hour,
        window_end=hour + timedelta(hours=1),
        asset_key=key,
        asset_type=AssetType.NODE,
        name=key,
        node_group=group,
        cpu_cost=total,
        total_cost=total,
        produced_at=produced,
    )


async def _send_and_aggregate(
    harness: Harness, events: Sequence[AssetCostEvent]
) -> AggregatorStats:
    await harness.producer.send_chunk([], events)
    aggregator = Aggregator(harness.kafka, AggregatorSettings(batch_max_ms=100), harness.pool)
    await aggregator.start()
    try:
        await asyncio.wait_for(aggregator.run(asyncio.Event(), idle_exit_seconds=1.0), timeout=60)
    finally:
        await aggregator.stop()
    return aggregator.stats


async def test_restated_asset_replaces_and_stale_replay_changes_nothing(
    pipeline_env: dict[str, str],
) -> None:
    cluster = uuid.uuid4()
    hour = datetime(2026, 3, 1, 10, tzinfo=UTC)
    first_at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    later_at = first_at + timedelta(hours=1)
    original = [
        _asset(cluster, hour, "node-a", 1_000_000, "pool-0", first_at),
        _asset(cluster, hour, "node-b", 250_000, "pool-1", first_at),
    ]
    # Kubecost restates node-a: a new cost, and it is now in another pool.
    restated = _asset(cluster, hour, "node-a", 1_234_567, "pool-2", later_at)
    broken = replace(original[1], asset_key="node-c", window_end=hour)
    async with collector_harness(pipeline_env) as harness:
        await _send_and_aggregate(harness, original)
        before = await _rollup(harness, "node_cost_daily")
        await _send_and_aggregate(harness, [restated])
        after = await _rollup(harness, "node_cost_daily")
        stats = await _send_and_aggregate(harness, [original[0], broken])  # stale replay
        replayed = {table: await _rollup(harness, table) for table in LEVELS}
        raw = await harness.fetch("SELECT asset_key, total_cost, node_group FROM asset_cost")
        dead = await read_topic(harness.kafka.bootstrap, harness.kafka.dead_letter_topic, 1)
    day = datetime(2026, 3, 1, tzinfo=UTC)
    assert before == {
        (cluster, day, "node", "pool-0"): (1, 1_000_000, 0, 1_000_000),
        (cluster, day, "node", "pool-1"): (1, 250_000, 0, 250_000),
    }
    wanted = {
        (cluster, day, "node", "pool-1"): (1, 250_000, 0, 250_000),
        (cluster, day, "node", "pool-2"): (1, 1_234_567, 0, 1_234_567),
    }
    assert after == wanted  # pool-0 lost its only row: deleted, not left at zero
    assert replayed["node_cost_daily"] == wanted
    for table in LEVELS:
        assert {k[2:] for k in replayed[table]} == {("node", "pool-1"), ("node", "pool-2")}
    assert sorted(raw) == [("node-a", 1_234_567, "pool-2"), ("node-b", 250_000, "pool-1")]
    assert (stats.asset_events, stats.dead_letters) == (1, 1)
    assert len(dead) == 1
    assert dead[0][1]["reason"] == b"window_end must be after window_start"
    assert dead[0][1]["source_topic"] == harness.kafka.assets_topic.encode()
