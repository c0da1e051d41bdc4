"""A running API over a small, known organization, with one key for every way a caller can be
wrong: the fixture the auth matrix, the fuzzer and the load test share.

The data goes the production way (events -> Kafka -> aggregator process -> rollups) so the API
reads what the pipeline wrote. Two clusters belong to the organization, so a key allowed only
the first can be asked about the second; a third belongs to another organization.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import psycopg

from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import serve_in_thread
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key, revoke_key
from shared.asset_events import AssetCostEvent
from shared.events import AllocationEvent
from tests.support.api_catalog import Operation
from tests.support.databases import fresh_database, topic_env
from tests.support.pipeline import aggregate, allocation, node_asset, produce
from tests.support.processes import running_api
from tests.support.services import Services

ORG = uuid.UUID("0000000e-0000-4000-8000-00000000a11a")
OTHER_ORG = uuid.UUID("0000000e-0000-4000-8000-00000000b22b")
ALLOWED = uuid.uuid5(ORG, "allowed")
FENCED = uuid.uuid5(ORG, "fenced")  # in the organization, outside the allow-listed key's reach
FOREIGN = uuid.uuid5(OTHER_ORG, "foreign")
NAMESPACE = "payments"
NODE_GROUP = "general"
HOURS = 48
# Fuzzing and load send far more than a person would; the quota has its own tests.
UNTHROTTLED = {"COSTPIPE_RATE_LIMIT_PER_MINUTE": "0"}


@dataclass(frozen=True)
class SeededApi:
    base: str
    env: Mapping[str, str]
    start: datetime
    end: datetime
    keys: Mapping[str, str]  # what each key is -> the key
    events: list[AllocationEvent]  # what the database holds

    @property
    def path_values(self) -> dict[str, str]:
        """Path parameters naming things that exist, on the cluster the allow-list fences off."""
        return {
            "cluster_id": str(FENCED),
            "namespace": NAMESPACE,
            "workload_uid": str(uuid.uuid5(FENCED, "api")),
            "name": NODE_GROUP,
        }

    @property
    def query_values(self) -> dict[str, str]:
        """Values every operation that takes them accepts (cost trends need start and end, the
        FOCUS export from and to: whole UTC days covering the seeded hours)."""
        return {
            "start": str(int(self.start.timestamp())),
            "end": str(int(self.end.timestamp())),
            "from": self.start.date().isoformat(),
            "to": (self.end.date() + timedelta(days=1)).isoformat(),
        }

    def query_for(self, operation: Operation) -> dict[str, str]:
        return {p: v for p, v in self.query_values.items() if p in operation.query_params}

    def without(self, scope: str) -> str:
        return self.keys[f"without {scope}"]


def seed_events(end: datetime, hours: int = HOURS) -> list[AllocationEvent]:
    events = []
    for cluster, org in ((ALLOWED, ORG), (FENCED, ORG), (FOREIGN, OTHER_ORG)):
        for i in range(hours):
            start = end - timedelta(hours=hours - i)
            for name, cost, team in (("api", 1_250_000, "core"), ("batch", 730_000, "data")):
                event = allocation(
                    organization_id=org,
                    cluster_id=cluster,
                    window_start=start,
                    window_end=start + timedelta(hours=1),
                    name=f"{name}-{i}",
                    cost=cost,
                    idle_share=10_000,
                    namespace=NAMESPACE,
                    controller_kind="deployment",
                    controller=name,
                    workload_uid=uuid.uuid5(cluster, name),
                    node_group=NODE_GROUP,
                )
                events.append(msgspec.structs.replace(event, team=team, service=name))
    return events


def seed_nodes(end: datetime, hours: int = HOURS) -> list[AssetCostEvent]:
    """The node the pods ran on, one per cluster: node groups exist where nodes are billed."""
    return [
        node_asset(
            organization_id=org,
            cluster_id=cluster,
            window_start=end - timedelta(hours=hours - i),
            window_end=end - timedelta(hours=hours - i - 1),
            name="node-0",
            node_group=NODE_GROUP,
            total_cost=2_500_000,
        )
        for cluster, org in ((ALLOWED, ORG), (FENCED, ORG), (FOREIGN, OTHER_ORG))
        for i in range(hours)
    ]


def _keys(database_url: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        keys["valid"] = create_key(conn, ORG, "valid", ALL_SCOPES, clusters=ALL_CLUSTERS)[1]
        for scope in ALL_SCOPES:
            others = tuple(s for s in ALL_SCOPES if s != scope)
            keys[f"without {scope}"] = create_key(
                conn, ORG, f"no {scope}", others, clusters=ALL_CLUSTERS
            )[1]
        record, keys["revoked"] = create_key(
            conn, ORG, "revoked", ALL_SCOPES, clusters=ALL_CLUSTERS
        )
        assert revoke_key(conn, record.prefix)
        keys["other organization"] = create_key(
            conn, OTHER_ORG, "other", ALL_SCOPES, clusters=ALL_CLUSTERS
        )[1]
        keys["allow-list"] = create_key(conn, ORG, "fenced", ALL_SCOPES, clusters=(ALLOWED,))[1]
    return keys


def _kubecost_config(folder: Path, sim_url: str) -> Path:
    """The clusters' Kubecost, for `costs/realtime`: the simulator, one simulated cluster each."""
    lines = []
    for index, (cluster, org) in enumerate(((ALLOWED, ORG), (FENCED, ORG), (FOREIGN, OTHER_ORG))):
        lines += [
            "[[clusters]]",
            f'name = "seeded-{index}"',
            f'id = "{cluster}"',
            f'organization_id = "{org}"',
            f'base_url = "{sim_url}/clusters/{index}"',
        ]
    path = folder / "clusters.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def seeded_api(
    services: Services, extra_env: Mapping[str, str] | None = None
) -> Iterator[SeededApi]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with (
        fresh_database(services.database_url) as url,
        serve_in_thread(SimConfig(seed=5, clusters=3, workloads_per_cluster=2, now=end)) as sim,
        tempfile.TemporaryDirectory(prefix="costpipe-seeded-") as folder,
    ):
        env = {
            **topic_env(services.kafka_bootstrap, url),
            **UNTHROTTLED,
            "COSTPIPE_COLLECTOR_CONFIG": str(_kubecost_config(Path(folder), sim)),
            **(extra_env or {}),
        }
        events = seed_events(end)
        produce(env, events, seed_nodes(end))
        aggregate(env, idle_seconds=1.5)
        keys = _keys(url)
        with running_api(env, timeout=120) as base:
            yield SeededApi(base, env, end - timedelta(hours=HOURS), end, keys, events)
