"""Property: for any set of nodes and hours, the node-group trends of a cluster add up to the
cluster's node bill exactly, at every granularity, and each group gets exactly the hours its
nodes spent in it.

Each example is a fresh cluster: nodes that come and go, change node group from hour to hour, and
are restated (a newer version of a node-hour, possibly in another group) with versions delivered
in shuffled batches, stale ones included. The versions go through the aggregator's asset writer
(the managed rollup path) and the groups are read back through the API over HTTP. Amounts are
any number of micro-units (and may be negative, as credits are): the API renders the micro-unit
sums exactly, six places, so its strings can be added up without rounding.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.aggregator.asset_writer import AssetBatchWriter
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.asset_events import AssetCostEvent
from shared.db.pool import make_pool
from shared.settings import DatabaseSettings
from shared.timewindows import Resolution, bucket_start
from tests.support.databases import fresh_database, topic_env
from tests.support.pipeline import node_asset
from tests.support.processes import running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

ORG = uuid.UUID("0000000f-0000-4000-8000-00000000b111")
# Sunday 25 January 2026: examples may cross a week and, with a later first hour, a month.
EPOCH = datetime(2026, 1, 25, tzinfo=UTC)
HOUR = timedelta(hours=1)
# Names a path must URL-encode (the spec's own examples: ':' and ',') are node groups too.
GROUP_NAMES = ("general", "gpu", "spot:a", "ng,1")
STEP = 1  # any micro-unit: the API's six places render every sum exactly
KINDS = {
    Resolution.HOURLY: "run_rate",  # breakdown refuses hourly; 730 x an hour's bill is exact
    Resolution.DAILY: "breakdown",
    Resolution.WEEKLY: "breakdown",
    Resolution.MONTHLY: "breakdown",
}


@dataclass(frozen=True)
class Version:
    node: int
    hour: int
    group: str
    cost: int  # micro-units
    version: int  # later versions are newer (restatements)


@dataclass(frozen=True)
class Scenario:
    first_hour: int  # hours after EPOCH
    hours: int
    deliveries: list[list[Version]]  # batches, in the order they are written

    def final(self) -> dict[tuple[int, int], Version]:
        """What the cluster was billed: the newest version of each node-hour."""
        out: dict[tuple[int, int], Version] = {}
        for batch in self.deliveries:
            for v in batch:
                current = out.get((v.node, v.hour))
                if current is None or v.version > current.version:
                    out[(v.node, v.hour)] = v
        return out


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    first_hour = draw(st.integers(min_value=0, max_value=24 * 10))
    hours = draw(st.integers(min_value=1, max_value=60))
    nodes = draw(st.integers(min_value=1, max_value=5))
    groups = draw(st.lists(st.sampled_from(GROUP_NAMES), min_size=1, max_size=4, unique=True))
    versions: list[Version] = []
    for node in range(nodes):
        present = draw(st.lists(st.booleans(), min_size=hours, max_size=hours))
        for hour in (h for h, here in enumerate(present) if here):
            for version in range(draw(st.integers(min_value=1, max_value=2))):
                versions.append(
                    Version(
                        node,
                        first_hour + hour,
                        draw(st.sampled_from(groups)),
                        draw(st.integers(min_value=-50, max_value=200_000)) * STEP,
                        version,
                    )
                )
    shuffled = draw(st.permutations(versions))
    cuts = sorted(draw(st.lists(st.integers(0, len(shuffled)), max_size=3)))
    bounds = [0, *cuts, len(shuffled)]
    deliveries = [shuffled[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return Scenario(first_hour, hours, deliveries)


@dataclass(frozen=True)
class Api:
    base: str
    key: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[Api]:
    with fresh_database(services.database_url) as url:
        env = {**topic_env(services.kafka_bootstrap, url), "COSTPIPE_RATE_LIMIT_PER_MINUTE": "0"}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO organization (id, name) VALUES (%s, 'property')", (ORG,))
            key = create_key(conn, ORG, "property", ALL_SCOPES, clusters=ALL_CLUSTERS)[1]
        with running_api(env) as base:
            yield Api(base, key, env)


def _event(cluster: uuid.UUID, v: Version) -> AssetCostEvent:
    start = EPOCH + v.hour * HOUR
    return node_asset(
        organization_id=ORG,
        cluster_id=cluster,
        window_start=start,
        window_end=start + HOUR,
        name=f"node-{v.node}",
        node_group=v.group,
        total_cost=v.cost,
        produced_at=EPOCH + timedelta(days=30, seconds=v.version),
    )


async def _write(env: dict[str, str], cluster: uuid.UUID, scenario: Scenario) -> None:
    writer = AssetBatchWriter()
    async with make_pool(DatabaseSettings.from_env(env), "property") as pool:
        for batch in scenario.deliveries:
            async with pool.connection() as conn:
                await writer.write(conn, [_event(cluster, v) for v in batch])


def _trend(
    api: Api, cluster: uuid.UUID, group: str, scenario: Scenario, resolution: Resolution
) -> httpx.Response:
    start = EPOCH + scenario.first_hour * HOUR
    return httpx.get(
        f"{api.base}/v1/clusters/{cluster}/node-groups/{quote(group, safe='')}/cost-trend",
        params={
            "start": int(start.timestamp()),
            "end": int((start + scenario.hours * HOUR).timestamp()),
            "granularity": resolution.value,
            "type": KINDS[resolution],
        },
        headers={"Authorization": f"Bearer {api.key}"},
        timeout=30,
    )


def _amounts(response: httpx.Response, resolution: Resolution) -> dict[datetime, int]:
    """Micro-units per bucket, zero buckets left out; an hour's run rate back to its bill."""
    assert response.status_code == 200, response.text
    out: dict[datetime, int] = {}
    for point in response.json()["data"]["points"]:
        amount = Decimal(point["total_cost"]["amount"]) * 1_000_000
        if resolution is Resolution.HOURLY:
            amount /= 730
        assert amount == amount.to_integral_value()
        if amount:
            out[datetime.fromisoformat(point["bucket_start"])] = int(amount)
    return out


def _bill(
    rows: dict[tuple[int, int], Version], resolution: Resolution, group: str | None = None
) -> dict[datetime, int]:
    out: dict[datetime, int] = {}
    for v in rows.values():
        if group is None or v.group == group:
            bucket = bucket_start(EPOCH + v.hour * HOUR, resolution)
            out[bucket] = out.get(bucket, 0) + v.cost
    return {bucket: amount for bucket, amount in out.items() if amount}


def _stored_bill(api: Api, cluster: uuid.UUID, resolution: Resolution) -> dict[datetime, int]:
    """The cluster's node bill as the raw rows hold it, per bucket (zero buckets left out)."""
    with psycopg.connect(api.env["COSTPIPE_DATABASE_URL"]) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        rows = conn.execute(
            "SELECT time_bucket(%s::interval, window_start), sum(total_cost)::bigint"
            " FROM asset_cost WHERE cluster_id = %s AND asset_type = 'node' GROUP BY 1",
            (_WIDTHS[resolution], cluster),
        ).fetchall()
    return {bucket: int(amount) for bucket, amount in rows if amount}


_WIDTHS = {
    Resolution.HOURLY: "1 hour",
    Resolution.DAILY: "1 day",
    Resolution.WEEKLY: "1 week",
    Resolution.MONTHLY: "1 month",
}


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_node_groups_add_up_to_the_node_bill_exactly(api: Api, scenario: Scenario) -> None:
    cluster = uuid.uuid4()
    asyncio.run(_write(api.env, cluster, scenario))
    final = scenario.final()
    groups = sorted({v.group for v in final.values()})
    for resolution in KINDS:
        total: dict[datetime, int] = {}
        for group in groups:
            found = _amounts(_trend(api, cluster, group, scenario, resolution), resolution)
            assert found == _bill(final, resolution, group), (group, resolution)
            for bucket, amount in found.items():
                total[bucket] = total.get(bucket, 0) + amount
        total = {bucket: amount for bucket, amount in total.items() if amount}
        assert total == _bill(final, resolution), resolution
        assert total == _stored_bill(api, cluster, resolution), resolution
    # A group the cluster's nodes have left entirely (all their versions restated elsewhere)
    # bills nothing and is not a node group of the cluster any more.
    gone = {v.group for batch in scenario.deliveries for v in batch} - set(groups)
    for group in gone:
        response = _trend(api, cluster, group, scenario, Resolution.DAILY)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "NODE_GROUP_NOT_FOUND"
