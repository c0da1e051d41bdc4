"""Node-group cost trends are the node bill: simulator -> collector -> Kafka -> aggregator ->
`node_cost_*` rollups -> the API, compared with the simulator's own asset totals per group.

The simulated clusters have nodes in three groups (general, memory, gpu), GPU nodes, spot nodes
(the Karpenter cluster's general group, and the spare node everywhere), a spare node no pod runs
on, and a node relabelled from memory to general in the middle of a day (`SimConfig.node_churn`).
Two days of hours cross a week (Monday 2 March) and a month boundary, so every granularity has a
bucket the moving node is billed to in part.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import httpx
import psycopg
import pytest

from services.kubecost_sim.model import SimConfig, asset_ground_truth, topology
from services.kubecost_sim.server import serve_in_thread
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.timewindows import Resolution, buckets, floor_hour, next_bucket
from tests.support.collector_harness import collector_config, collector_harness
from tests.support.databases import fresh_database, topic_env
from tests.support.processes import running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
TARGET = floor_hour(NOW)
START = TARGET - timedelta(days=2)  # 28 Feb 05:00: February, March, two ISO weeks
CHURN = datetime(2026, 3, 1, 9, tzinfo=UTC)  # the mover is memory before, general from here
SIM = SimConfig(seed=11, clusters=3, workloads_per_cluster=24, now=NOW, node_churn=CHURN)
INDICES = (0, 2)  # EKS (on-demand) and Karpenter (spot general group)
GROUPS = ("general", "memory", "gpu")
GRANULARITIES = {
    "hourly": Resolution.HOURLY,
    "daily": Resolution.DAILY,
    "weekly": Resolution.WEEKLY,
    "monthly": Resolution.MONTHLY,
}
PLACES = Decimal("0.000001")
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Pipeline:
    base: str
    key: str
    database_url: str
    clusters: dict[int, uuid.UUID]  # simulator index -> cluster id

    def trend(self, index: int, group: str, **params: str) -> httpx.Response:
        return httpx.get(
            f"{self.base}/v1/clusters/{self.clusters[index]}/node-groups/{group}/cost-trend",
            params={"start": int(START.timestamp()), "end": int(TARGET.timestamp()), **params},
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )


def _bill(index: int, start: datetime, end: datetime) -> dict[str, Decimal]:
    """The simulator's node bill per node group over [start, end), exact."""
    totals = asset_ground_truth(SIM, index, start, end)
    return {group: t.total_cost for (kind, group), t in totals.items() if kind == "Node"}


def _points(response: httpx.Response) -> dict[datetime, Decimal]:
    assert response.status_code == 200, response.text
    return {
        datetime.fromisoformat(p["bucket_start"]): Decimal(p["total_cost"]["amount"])
        for p in response.json()["data"]["points"]
    }


async def _collect(env: dict[str, str], clusters: list[dict[str, str]]) -> dict[uuid.UUID, int]:
    config = collector_config(clusters, backfill_days=2)
    async with collector_harness(env) as harness:
        collector = harness.collector(config, NOW)
        await collector.run(once=True)
        await harness.aggregate()
    for cluster in config.clusters:
        assert collector.stats[cluster.id].errors == {}
    return {c.id: i for c, i in zip(config.clusters, INDICES, strict=True)}


@pytest.fixture(scope="module")
def pipeline(services: Services) -> Iterator[Pipeline]:
    with fresh_database(services.database_url) as url, serve_in_thread(SIM) as sim:
        env = topic_env(services.kafka_bootstrap, url)
        clusters = [{"name": f"bill-{i}", "base_url": f"{sim}/clusters/{i}"} for i in INDICES]
        ids = asyncio.run(_collect(env, clusters))
        with psycopg.connect(url, autocommit=True) as conn:
            (organization,) = {
                row[0] for row in conn.execute("SELECT organization_id FROM cluster").fetchall()
            }
            key = create_key(conn, organization, "bill", ALL_SCOPES, clusters=ALL_CLUSTERS)[1]
        with running_api(env) as base:
            yield Pipeline(base, key, url, {index: cid for cid, index in ids.items()})


def test_the_scenario_is_in_the_data(pipeline: Pipeline) -> None:
    """The cases the other tests rely on really are there (else they would prove nothing)."""
    with psycopg.connect(pipeline.database_url) as conn:
        for index in INDICES:
            nodes = topology(SIM, index).nodes
            spare = next(n for n in nodes if not n.hosts_pods)
            mover = next(n for n in nodes if n.move_hour is not None)
            cluster = pipeline.clusters[index]
            pods_on_spare = conn.execute(
                "SELECT count(*) FROM allocation WHERE cluster_id = %s AND node = %s",
                (cluster, spare.name),
            ).fetchone()
            spare_hours = conn.execute(
                "SELECT count(*) FROM asset_cost WHERE cluster_id = %s AND name = %s",
                (cluster, spare.name),
            ).fetchone()
            mover_groups = conn.execute(
                "SELECT node_group, count(*) FROM asset_cost WHERE cluster_id = %s AND name = %s"
                " GROUP BY node_group ORDER BY node_group",
                (cluster, mover.name),
            ).fetchall()
            gpu = conn.execute(
                "SELECT sum(gpu_cost) FROM node_cost_daily WHERE cluster_id = %s"
                " AND asset_type = 'node' AND node_group = 'gpu'",
                (cluster,),
            ).fetchone()
            assert pods_on_spare == (0,)
            assert spare_hours == (48,)
            hours_before = int((CHURN - START).total_seconds()) // 3600
            assert mover_groups == [("general", 48 - hours_before), ("memory", hours_before)]
            assert gpu is not None
            assert gpu[0] > 0
            assert spare.preemptible
    spot = [n for n in topology(SIM, 2).nodes if n.group == "general" and n.hosts_pods]
    assert spot
    assert all(n.preemptible for n in spot)


@pytest.mark.parametrize("granularity", list(GRANULARITIES))
def test_node_group_trend_is_the_node_bill_at_every_granularity(
    pipeline: Pipeline, granularity: str
) -> None:
    resolution = GRANULARITIES[granularity]
    # Breakdown refuses hourly; an hour's run rate is its bill x 730, exact in four places.
    kind = "run_rate" if resolution is Resolution.HOURLY else "breakdown"
    for index in INDICES:
        for group in GROUPS:
            response = pipeline.trend(index, group, granularity=granularity, type=kind)
            body = response.json()
            assert body["data"]["granularity"] == granularity
            assert body["data"]["scope_ref"] == {
                "cluster_id": str(pipeline.clusters[index]),
                "node_group": group,
            }
            assert "cost_mode" not in body["meta"]
            wanted = {}
            for bucket in buckets(START, TARGET, resolution):
                window = (max(bucket, START), min(next_bucket(bucket, resolution), TARGET))
                bill = _bill(index, *window).get(group, Decimal(0))
                if kind == "run_rate":
                    bill *= HOURS_PER_MONTH
                wanted[bucket] = bill.quantize(PLACES, rounding=ROUND_HALF_EVEN)
            assert _points(response) == wanted, (index, group, granularity)


def test_node_groups_add_up_to_the_cluster_node_bill_every_hour(pipeline: Pipeline) -> None:
    for index in INDICES:
        by_hour: dict[datetime, Decimal] = {}
        for group in GROUPS:
            rates = _points(pipeline.trend(index, group, granularity="hourly"))
            for hour, rate in rates.items():
                by_hour[hour] = by_hour.get(hour, Decimal(0)) + rate / HOURS_PER_MONTH
        wanted = {
            hour: sum(_bill(index, hour, hour + timedelta(hours=1)).values(), Decimal(0))
            for hour in buckets(START, TARGET, Resolution.HOURLY)
        }
        assert by_hour == wanted


@pytest.mark.parametrize("cost_mode", ["fully_loaded", "workload_only"])
def test_cost_mode_is_refused_as_the_contract_says(pipeline: Pipeline, cost_mode: str) -> None:
    """A node group has one bill in both cost modes, so the endpoint takes neither."""
    refused = pipeline.trend(0, "general", granularity="daily", cost_mode=cost_mode)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "INVALID_COST_MODE"


def test_a_group_with_no_node_is_not_found(pipeline: Pipeline) -> None:
    response = pipeline.trend(0, "spot-only", granularity="daily")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NODE_GROUP_NOT_FOUND"
