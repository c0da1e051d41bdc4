"""The simulator is the pipeline's ground truth, so its own arithmetic must be beyond doubt.

These tests pin the properties the rest of the project relies on: determinism, exact money
(totals, aggregation, accumulation, idle vs node cost), the real response shape, and that the
HTTP server returns exactly what `ground_truth_total` says.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.kubecost_sim import model, params
from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import serve_in_thread
from services.kubecost_sim.topology import group_label_key

FIXTURES = Path("/work/shared/fixtures/opencost")
NOW = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
CONFIG = SimConfig(now=NOW)
HOUR = datetime(2025, 5, 20, 15, tzinfo=UTC)
MONEY = (
    "cpuCost",
    "gpuCost",
    "ramCost",
    "pvCost",
    "networkCost",
    "loadBalancerCost",
    "sharedCost",
    "externalCost",
)
ALL_MONEY = (
    *MONEY,
    "networkCrossZoneCost",
    "networkCrossRegionCost",
    "networkInternetCost",
    "totalCost",
)


def dec(value: Any) -> Decimal:
    """The decimal a JSON reader sees for an emitted float."""
    return Decimal(str(value))


def rfc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def money_sums(allocs: dict[str, dict[str, Any]], group: Any) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for a in allocs.values():
        for k in ALL_MONEY:
            out[group(a)][k] += dec(a[k])
    return out


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def test_same_seed_same_output_different_seed_different() -> None:
    first = model.allocation_set(CONFIG, 0, HOUR, "pod", True)
    again = model.allocation_set(SimConfig(now=NOW), 0, HOUR, "pod", True)
    other = model.allocation_set(SimConfig(seed=7, now=NOW), 0, HOUR, "pod", True)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert json.dumps(first, sort_keys=True) != json.dumps(other, sort_keys=True)
    assert model.asset_set(CONFIG, 1, HOUR) == model.asset_set(SimConfig(now=NOW), 1, HOUR)


def test_hours_are_independent_of_generation_order() -> None:
    hours = [HOUR + timedelta(hours=i) for i in range(6)]
    forward = [model.allocation_set(CONFIG, 2, h) for h in hours]
    backward = [model.allocation_set(CONFIG, 2, h) for h in reversed(hours)][::-1]
    assert forward == backward


@pytest.mark.parametrize("aggregate", ["pod", "container", "namespace", "controller", "cluster"])
def test_total_cost_is_exact_sum_of_components(aggregate: str) -> None:
    allocs = model.allocation_set(CONFIG, 1, HOUR, aggregate, True)
    assert allocs
    for a in allocs.values():
        for k in ALL_MONEY:
            assert dec(a[k]).as_tuple().exponent >= -5, (k, a[k])  # type: ignore[operator]
        assert dec(a["totalCost"]) == sum(dec(a[k]) for k in MONEY)
        assert dec(a["networkCost"]) == sum(
            dec(a[k])
            for k in ("networkCrossZoneCost", "networkCrossRegionCost", "networkInternetCost")
        )


def test_namespace_aggregation_equals_sum_of_pods() -> None:
    pods = model.allocation_set(CONFIG, 0, HOUR, "pod", True)
    namespaces = model.allocation_set(CONFIG, 0, HOUR, "namespace", True)
    # Idle has no namespace property; its name is its group.
    expected = money_sums(pods, lambda a: a["properties"].get("namespace", a["name"]))
    assert set(namespaces) == set(expected)
    for name, a in namespaces.items():
        for k in ALL_MONEY:
            assert dec(a[k]) == expected[name][k], (name, k)
        members = [p for p in pods.values() if p["properties"].get("namespace") == name]
        if name != "__idle__":
            # Kubecost keeps only the properties all members share.
            assert a["properties"]["namespace"] == name
            assert ("pod" in a["properties"]) == (len(members) == 1)


def test_pod_equals_sum_of_containers() -> None:
    containers = model.allocation_set(CONFIG, 0, HOUR, "container", False)
    pods = model.allocation_set(CONFIG, 0, HOUR, "pod", False)
    expected = money_sums(containers, lambda a: a["properties"]["pod"])
    assert set(pods) == set(expected)
    for name, a in pods.items():
        for k in ALL_MONEY:
            assert dec(a[k]) == expected[name][k]
    with_sidecar = [c for c in containers.values() if c["properties"]["container"] == "envoy"]
    assert with_sidecar, "some pods should have two containers"


def test_accumulate_equals_sum_of_steps() -> None:
    start = HOUR - timedelta(hours=23)
    end = HOUR + timedelta(hours=1)
    steps = [
        model.allocation_set(CONFIG, 0, start + timedelta(hours=i), "controller", True)
        for i in range(24)
    ]
    expected: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for step in steps:
        for name, a in step.items():
            for k in ALL_MONEY:
                expected[name][k] += dec(a[k])
    accumulated = model.allocation_window(CONFIG, 0, start, end, "controller", True)
    assert set(accumulated) == set(expected)
    for name, a in accumulated.items():
        for k in ALL_MONEY:
            assert dec(a[k]) == expected[name][k], (name, k)
        assert a["window"] == {"start": rfc(start), "end": rfc(end)}
    total = sum(dec(a["totalCost"]) for a in accumulated.values())
    assert total == model.ground_truth_total(CONFIG, 0, start, end, True)


def test_future_hours_have_no_data() -> None:
    current = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert model.allocation_set(CONFIG, 0, current)  # the in-progress hour exists
    assert model.allocation_set(CONFIG, 0, current + timedelta(hours=1)) == {}
    assert model.asset_set(CONFIG, 0, current + timedelta(hours=1)) == {}
    future = model.ground_truth_total(CONFIG, 0, NOW + timedelta(hours=1), NOW + timedelta(days=2))
    assert future == 0
    straddling = model.ground_truth_total(
        CONFIG, 0, current - timedelta(hours=1), NOW + timedelta(days=1)
    )
    assert straddling == model.ground_truth_total(
        CONFIG, 0, current - timedelta(hours=1), current + timedelta(hours=1)
    )


def test_idle_plus_allocated_equals_node_cost_and_assets_match() -> None:
    allocs = model.allocation_set(CONFIG, 2, HOUR, "pod", True)
    assets = model.asset_set(CONFIG, 2, HOUR)
    by_type: dict[str, Decimal] = defaultdict(Decimal)
    for a in assets.values():
        by_type[a["type"]] += dec(a["totalCost"])
    compute = sum(dec(a[k]) for a in allocs.values() for k in ("cpuCost", "ramCost", "gpuCost"))
    assert compute == by_type["Node"]
    assert sum(dec(a["pvCost"]) for a in allocs.values()) == by_type["Disk"]
    assert sum(dec(a["loadBalancerCost"]) for a in allocs.values()) == by_type["LoadBalancer"]
    assert dec(allocs["__idle__"]["totalCost"]) > 0


@settings(max_examples=15, deadline=None, database=None)
@given(
    hour=st.integers(min_value=17_000 * 24, max_value=20_000 * 24),
    cluster=st.integers(min_value=0, max_value=2),
)
def test_exactness_holds_for_any_hour(hour: int, cluster: int) -> None:
    t = datetime.fromtimestamp(hour * 3600, UTC)
    allocs = model.allocation_set(CONFIG, cluster, t, "pod", True)
    nodes = sum(
        dec(a["totalCost"])
        for a in model.asset_set(CONFIG, cluster, t).values()
        if a["type"] == "Node"
    )
    assert nodes == sum(
        dec(a[k]) for a in allocs.values() for k in ("cpuCost", "ramCost", "gpuCost")
    )
    assert sum(dec(a["totalCost"]) for a in allocs.values()) == model.ground_truth_total(
        CONFIG, cluster, t, t + timedelta(hours=1)
    )


def test_topology_has_the_dimensions_the_pipeline_derives() -> None:
    labels = {
        0: "eks_amazonaws_com_nodegroup",
        1: "cloud_google_com_gke_nodepool",
        2: "karpenter_sh_nodepool",
    }
    for index, label in labels.items():
        nodes = [a for a in model.asset_set(CONFIG, index, HOUR).values() if a["type"] == "Node"]
        groups = {n["labels"][label] for n in nodes}
        assert groups == {"general", "memory", "gpu"}
        assert all(n["pool"] == n["labels"][label] for n in nodes)
    pods = model.allocation_set(CONFIG, 0, HOUR, "pod", False)
    kinds = {a["properties"]["controllerKind"] for a in pods.values()}
    assert kinds >= {"deployment", "statefulset", "daemonset"}
    for a in pods.values():
        assert {"app", "team", "owner"} <= set(a["properties"]["labels"])
    gpu = [a for a in pods.values() if a["gpuCost"] > 0]
    assert gpu
    assert all(a["gpuAllocation"]["gpuModel"] for a in gpu)
    assert all(a["properties"]["cluster"] == "sim-cluster-0" for a in pods.values())


def test_jobs_run_only_some_hours() -> None:
    day = datetime(2025, 5, 20, tzinfo=UTC)
    seen = [
        {
            a["properties"]["controller"]
            for a in model.allocation_set(
                CONFIG, 0, day + timedelta(hours=i), "pod", False
            ).values()
            if a["properties"]["controllerKind"] == "job"
        }
        for i in range(48)
    ]
    assert any(seen)
    assert not all(seen)


def test_costs_follow_a_daily_pattern() -> None:
    def total(hour: int) -> Decimal:
        t = datetime(2025, 5, 20, hour, tzinfo=UTC)
        return model.ground_truth_total(CONFIG, 0, t, t + timedelta(hours=1), False)

    assert total(14) > total(2)


def test_unknown_aggregate_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported aggregation"):
        model.allocation_set(CONFIG, 0, HOUR, "bogus", True)
    assert "__unallocated__" in model.allocation_set(CONFIG, 0, HOUR, "label:department", False)


def test_one_hour_is_cheap() -> None:
    model.allocation_set(CONFIG, 0, HOUR)  # warm the topology cache
    t0 = time.perf_counter()
    for i in range(24):
        model.allocation_set(CONFIG, 0, HOUR + timedelta(hours=i))
    assert (time.perf_counter() - t0) / 24 < 0.05


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


def test_window_parsing_follows_kubecost() -> None:
    now = datetime(2025, 6, 4, 12, 30, tzinfo=UTC)  # a Wednesday
    day = timedelta(days=1)
    midnight = datetime(2025, 6, 4, tzinfo=UTC)
    assert params.parse_window("today", now) == (midnight, midnight + day)
    assert params.parse_window("yesterday", now) == (midnight - day, midnight)
    assert params.parse_window("24h", now) == (
        datetime(2025, 6, 3, 13, tzinfo=UTC),
        datetime(2025, 6, 4, 13, tzinfo=UTC),
    )
    assert params.parse_window("7d", now) == (midnight - 6 * day, midnight + day)
    assert params.parse_window("1748998800,1749002400", now) == (
        datetime(2025, 6, 4, 1, tzinfo=UTC),
        datetime(2025, 6, 4, 2, tzinfo=UTC),
    )
    assert params.parse_window("2025-06-01T00:10:00Z,2025-06-01T02:00:00Z", now) == (
        datetime(2025, 6, 1, 0, tzinfo=UTC),
        datetime(2025, 6, 1, 2, tzinfo=UTC),
    )
    for bad in ("", "yesterweek", "2025-06-02T00:00:00Z,2025-06-01T00:00:00Z", "5,5"):
        with pytest.raises(params.ParamError):
            params.parse_window(bad, now)
    assert params.parse_step("1d") == day
    with pytest.raises(params.ParamError):
        params.parse_step("90m")


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        serve_in_thread(SimConfig(now=NOW, fail_clusters=frozenset({2}))) as url,
        httpx.Client(base_url=url, timeout=30) as c,
    ):
        yield c


def get_json(client: httpx.Client, path: str, **query: str) -> tuple[int, Any]:
    response = client.get(path, params=query)
    return response.status_code, json.loads(response.text, parse_float=Decimal)


def test_http_matches_fixture_shape(client: httpx.Client) -> None:
    fixture = json.loads((FIXTURES / "allocation-7d-by-namespace.json").read_text())
    fixture_alloc = next(iter(fixture["data"][0].values()))
    end = datetime(2025, 5, 20, tzinfo=UTC)
    status, body = get_json(
        client,
        "/model/allocation",
        window=f"{rfc(end - timedelta(hours=3))},{rfc(end)}",
        aggregate="namespace",
        accumulate="false",
        step="1h",
        includeIdle="true",
    )
    assert status == 200
    assert body["code"] == 200
    assert body["status"] == "success"
    assert isinstance(body["data"], list)
    assert len(body["data"]) == 3
    for step in body["data"]:
        assert "__idle__" in step
        for name, a in step.items():
            assert a["name"] == name
            assert set(fixture_alloc) <= set(a)
            assert {"gpuRequestAverage", "gpuUsageAverage", "gpuEfficiency"} <= set(a)

    assets_fixture = json.loads((FIXTURES / "assets-7d.json").read_text())["data"]
    fixture_by_type = {a["type"]: a for a in assets_fixture.values()}
    status, body = get_json(client, "/assets", window=f"{rfc(end - timedelta(hours=2))},{rfc(end)}")
    assert status == 200
    assert isinstance(body["data"], dict)
    ours = {a["type"]: a for a in body["data"].values()}
    assert set(ours) == {"Node", "Disk", "LoadBalancer"}
    for kind in ("Node", "Disk"):
        assert set(fixture_by_type[kind]) <= set(ours[kind])
        assert set(fixture_by_type[kind]["properties"]) <= set(ours[kind]["properties"])
    status, body = get_json(
        client, "/model/assets", window=f"{rfc(end - timedelta(hours=2))},{rfc(end)}"
    )
    assert status == 200
    assert len(body["data"]) == 2


def test_http_total_equals_ground_truth_for_48_hours(client: httpx.Client) -> None:
    end = datetime(2025, 5, 31, 6, tzinfo=UTC)
    start = end - timedelta(hours=48)
    status, body = get_json(
        client,
        "/model/allocation",
        window=f"{rfc(start)},{rfc(end)}",
        aggregate="pod",
        accumulate="false",
        step="1h",
        includeIdle="true",
    )
    assert status == 200
    assert len(body["data"]) == 48
    # parse_float=Decimal: these are the emitted decimal strings, summed exactly.
    got = sum(a["totalCost"] for step in body["data"] for a in step.values())
    assert got == model.ground_truth_total(CONFIG, 0, start, end, True)
    clusters = {a["properties"]["cluster"] for step in body["data"] for a in step.values()}
    assert clusters == {"sim-cluster-0"}


def test_http_cluster_prefix_serves_that_cluster(client: httpx.Client) -> None:
    end = datetime(2025, 5, 31, 6, tzinfo=UTC)
    start = end - timedelta(hours=6)
    status, body = get_json(
        client,
        "/clusters/1/model/allocation",
        window=f"{rfc(start)},{rfc(end)}",
        aggregate="namespace",
        includeIdle="true",
    )
    assert status == 200
    got = sum(a["totalCost"] for step in body["data"] for a in step.values())
    assert got == model.ground_truth_total(CONFIG, 1, start, end, True)
    clusters = {a["properties"]["cluster"] for step in body["data"] for a in step.values()}
    assert clusters == {"sim-cluster-1"}


def test_http_accumulate_and_daily_step(client: httpx.Client) -> None:
    start = datetime(2025, 5, 28, tzinfo=UTC)
    window = f"{int(start.timestamp())},{int((start + timedelta(days=2)).timestamp())}"
    status, acc = get_json(
        client,
        "/allocation",
        window=window,
        aggregate="namespace",
        accumulate="true",
        includeIdle="true",
    )
    assert status == 200
    assert len(acc["data"]) == 1
    status, daily = get_json(
        client,
        "/allocation/compute",
        window=window,
        aggregate="namespace",
        step="1d",
        includeIdle="true",
    )
    assert status == 200
    assert len(daily["data"]) == 2
    for name, a in acc["data"][0].items():
        assert a["totalCost"] == sum(d[name]["totalCost"] for d in daily["data"] if name in d)


def test_http_future_window_is_empty(client: httpx.Client) -> None:
    window = f"{rfc(NOW + timedelta(days=1))},{rfc(NOW + timedelta(days=2))}"
    assert get_json(client, "/model/allocation", window=window) == (
        200,
        {"code": 200, "status": "success", "data": []},
    )
    status, body = get_json(client, "/model/allocation", window="today", step="1h")
    assert status == 200
    assert len(body["data"]) == 13  # 00:00 .. the in-progress 12:00 hour


@pytest.mark.parametrize(
    "query",
    [
        {"window": "not-a-window"},
        {},
        {"window": "2025-05-02T00:00:00Z,2025-05-01T00:00:00Z"},
        {"window": "24h", "aggregate": "bogus"},
        {"window": "24h", "step": "15m"},
        {"window": "24h", "accumulate": "perhaps"},
    ],
)
def test_http_bad_parameters_are_400(client: httpx.Client, query: dict[str, str]) -> None:
    status, body = get_json(client, "/model/allocation", **query)
    assert status == 400
    assert body["code"] == 400
    assert body["status"] == "error"
    assert body["message"]


def test_http_cluster_routing_and_faults(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/clusters/7/model/allocation", params={"window": "1h"}).status_code == 404
    failing = client.get("/clusters/2/model/allocation", params={"window": "1h"})
    assert failing.status_code == 500
    assert failing.json()["status"] == "error"


# ---------------------------------------------------------------------------------------------
# Node churn (node-group bill scenarios)
# ---------------------------------------------------------------------------------------------

CHURN_AT = datetime(2025, 5, 20, 17, tzinfo=UTC)
CHURN = SimConfig(now=NOW, workloads_per_cluster=24, node_churn=CHURN_AT)


def _nodes(config: SimConfig, cluster: int, hour: datetime) -> dict[str, dict[str, Any]]:
    return {
        a["properties"]["name"]: a
        for a in model.asset_set(config, cluster, hour).values()
        if a["type"] == "Node"
    }


@pytest.mark.parametrize("cluster", [0, 1, 2])
def test_node_churn_adds_a_spare_and_a_mover_and_stays_exact(cluster: int) -> None:
    plain = SimConfig(now=NOW, workloads_per_cluster=24)
    label = group_label_key(model.topology(CHURN, cluster).flavor)
    spare = next(n for n in model.topology(CHURN, cluster).nodes if not n.hosts_pods)
    mover = next(n for n in model.topology(CHURN, cluster).nodes if n.move_hour is not None)
    assert spare.preemptible
    assert spare.group == "general"
    for hour, mover_group in ((CHURN_AT - timedelta(hours=1), "memory"), (CHURN_AT, "general")):
        allocs = model.allocation_set(CHURN, cluster, hour, "pod", True)
        nodes = _nodes(CHURN, cluster, hour)
        # The other nodes and their pods are untouched; only idle grows by the two nodes' rest.
        before = model.allocation_set(plain, cluster, hour, "pod", True)
        assert {k: v for k, v in allocs.items() if k in before and k != "__idle__"} == {
            k: v for k, v in before.items() if k != "__idle__"
        }
        assert set(_nodes(plain, cluster, hour)) == set(nodes) - {spare.name, mover.name}
        on_node = {a["properties"].get("node") for a in allocs.values()}
        assert spare.name not in on_node
        assert mover.name in on_node  # its DaemonSet pods
        assert nodes[mover.name]["pool"] == mover_group
        assert nodes[mover.name]["labels"][label] == mover_group
        assert nodes[spare.name]["totalCost"] > 0
        compute = sum(dec(a[k]) for a in allocs.values() for k in ("cpuCost", "ramCost", "gpuCost"))
        assert compute == sum(dec(n["totalCost"]) for n in nodes.values())


def test_node_churn_ground_truth_bills_each_hour_to_the_group_of_that_hour() -> None:
    start = CHURN_AT - timedelta(hours=3)
    end = CHURN_AT + timedelta(hours=2)
    mover = next(n for n in model.topology(CHURN, 1).nodes if n.move_hour is not None)
    by_group: dict[str, Decimal] = defaultdict(Decimal)
    for i in range(5):
        for name, node in _nodes(CHURN, 1, start + timedelta(hours=i)).items():
            by_group[node["pool"]] += dec(node["totalCost"])
            if name == mover.name:
                assert node["pool"] == ("memory" if i < 3 else "general")
    truth = model.asset_ground_truth(CHURN, 1, start, end)
    assert {g: t.total_cost for (kind, g), t in truth.items() if kind == "Node"} == by_group
    accumulated = model.asset_window(CHURN, 1, start, end)
    (moved,) = [a for a in accumulated.values() if a["properties"]["name"] == mover.name]
    assert moved["pool"] == "general"  # a window reports the node as it was last


def test_node_churn_must_be_an_aware_whole_hour() -> None:
    with pytest.raises(ValueError, match="whole hour"):
        SimConfig(node_churn=CHURN_AT + timedelta(minutes=5))
    with pytest.raises(ValueError, match="timezone-aware"):
        SimConfig(node_churn=datetime(2025, 5, 20, 17))  # noqa: DTZ001 - the point of the test
