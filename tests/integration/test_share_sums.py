"""A simulated cluster's namespace parts and workload parts add up to the cluster total to the
micro-unit, in both cost modes and at every rollup level, after the whole pipeline (simulator ->
collector -> Kafka -> aggregator); and the API's cluster, namespace and workload answers are those
sums, each rendered once.

The idle pool of every hour reaches the workloads as their idle share (largest remainder on
micro-units, shared/apportion.py), so no part of the cluster's fully loaded total stays outside
the namespaces and workloads: the idle rows themselves carry nothing once it is shared out.
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

from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import serve_in_thread
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.timewindows import floor_hour
from tests.support.collector_harness import collector_config, collector_harness
from tests.support.databases import fresh_database, topic_env
from tests.support.processes import running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 3, 5, 30, tzinfo=UTC)
TARGET = floor_hour(NOW)
START = TARGET - timedelta(days=1)
SIM = SimConfig(seed=3, clusters=1, workloads_per_cluster=24, now=NOW)
LEVELS = ("hourly", "daily", "weekly", "monthly")
MODES = {"fully_loaded": "cost + idle_share", "workload_only": "cost"}
NIL = uuid.UUID(int=0)


@dataclass(frozen=True)
class Pipeline:
    base: str
    key: str
    database_url: str
    cluster: uuid.UUID

    def amounts(self, path: str, cost_mode: str) -> dict[datetime, Decimal]:
        response = httpx.get(
            f"{self.base}/v1/clusters/{self.cluster}{path}/cost-trend",
            params={
                "start": int(START.timestamp()),
                "end": int(TARGET.timestamp()),
                "granularity": "daily",
                "type": "breakdown",
                "cost_mode": cost_mode,
            },
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return {
            datetime.fromisoformat(p["bucket_start"]): Decimal(p["total_cost"]["amount"])
            for p in response.json()["data"]["points"]
        }


async def _collect(env: dict[str, str], base_url: str) -> uuid.UUID:
    config = collector_config([{"name": "shares", "base_url": base_url}])
    async with collector_harness(env) as harness:
        collector = harness.collector(config, NOW)
        await collector.run(once=True)
        await harness.aggregate()
    (cluster,) = config.clusters
    assert collector.stats[cluster.id].errors == {}
    return cluster.id


@pytest.fixture(scope="module")
def pipeline(services: Services) -> Iterator[Pipeline]:
    with fresh_database(services.database_url) as url, serve_in_thread(SIM) as sim:
        env = topic_env(services.kafka_bootstrap, url)
        cluster = asyncio.run(_collect(env, sim))
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT organization_id FROM cluster WHERE id = %s", (cluster,))
            (organization,) = row.fetchone() or (None,)
            key = create_key(conn, organization, "shares", ALL_SCOPES, clusters=ALL_CLUSTERS)[1]
        with running_api(env) as base:
            yield Pipeline(base, key, url, cluster)


def _parts(conn: psycopg.Connection, level: str, column: str, mode: str) -> dict[object, int]:
    """Sum over the values of `column` per bucket: the parts, added up."""
    rows = conn.execute(
        f"SELECT bucket, {column}, sum({MODES[mode]})::bigint FROM cost_{level} GROUP BY bucket, 2"
    ).fetchall()
    out: dict[object, int] = {}
    for bucket, value, amount in rows:
        if value in ("", NIL):
            # Rows of no namespace or workload: the idle pool, which carries nothing once shared.
            assert amount == 0, (level, column, bucket, value)
            continue
        out[bucket] = out.get(bucket, 0) + int(amount)
    return out


@pytest.mark.parametrize("mode", list(MODES))
def test_parts_add_up_to_the_cluster_at_every_level(pipeline: Pipeline, mode: str) -> None:
    with psycopg.connect(pipeline.database_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for level in LEVELS:
            cluster = {
                bucket: int(amount)
                for bucket, amount in conn.execute(
                    f"SELECT bucket, sum({MODES[mode]})::bigint FROM cost_cluster_{level}"
                    " WHERE cluster_id = %s GROUP BY bucket",
                    (pipeline.cluster,),
                ).fetchall()
            }
            assert cluster, level
            assert _parts(conn, level, "namespace", mode) == cluster, (level, mode)
            assert _parts(conn, level, "workload_uid", mode) == cluster, (level, mode)
        idle = conn.execute(
            "SELECT count(*), sum(total_cost), sum(idle_share) FROM allocation WHERE kind = 'idle'"
        ).fetchone()
    assert idle is not None
    assert idle[0] == 24  # one idle row per hour: there was a pool to share every hour
    assert idle[1] > 0
    assert idle[2] == 0


def _rendered(micros: int) -> Decimal:
    return (Decimal(micros) / 1_000_000).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


@pytest.mark.parametrize("mode", list(MODES))
def test_the_api_answers_the_parts_and_their_sum(pipeline: Pipeline, mode: str) -> None:
    with psycopg.connect(pipeline.database_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        namespaces = conn.execute(
            f"SELECT namespace, bucket, sum({MODES[mode]})::bigint FROM cost_daily"
            " WHERE namespace <> '' GROUP BY 1, 2"
        ).fetchall()
        workloads = conn.execute(
            f"SELECT workload_uid, bucket, sum({MODES[mode]})::bigint FROM cost_daily"
            " WHERE workload_uid <> %s GROUP BY 1, 2",
            (NIL,),
        ).fetchall()
    total: dict[datetime, int] = {}
    answered: list[dict[datetime, Decimal]] = []
    for path, rows in (("/namespaces/{}", namespaces), ("/workloads/by-uid/{}", workloads)):
        parts: dict[object, dict[datetime, int]] = {}
        for value, bucket, amount in rows:
            parts.setdefault(value, {})[bucket] = int(amount)
        summed: dict[datetime, int] = {}
        strings: dict[datetime, Decimal] = {}
        for value, by_bucket in parts.items():
            answer = pipeline.amounts(path.format(value), mode)
            for bucket, amount in answer.items():
                strings[bucket] = strings.get(bucket, Decimal(0)) + amount
            # Buckets the part has no cost in are answered as zero.
            assert answer == {b: _rendered(by_bucket.get(b, 0)) for b in answer}, (value, mode)
            assert set(by_bucket) <= set(answer)
            for bucket, amount in by_bucket.items():
                summed[bucket] = summed.get(bucket, 0) + amount
        assert not total or summed == total
        total = summed
        answered.append(strings)
    cluster = pipeline.amounts("", mode)
    assert cluster == {bucket: _rendered(total.get(bucket, 0)) for bucket in cluster}
    # What a user adds up: the answered strings of the parts make the cluster's, to the last digit.
    for strings in answered:
        assert {b: strings.get(b, Decimal(0)) for b in cluster} == cluster, mode
    assert set(total) == set(cluster)
