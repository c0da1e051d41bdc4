"""The mapping of real OpenCost responses to events, checked field by field."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.collector.allocations import MappingReport, map_step, pick_label
from services.collector.config import parse_config
from services.collector.kubecost_response import KubecostResponseError, steps_of
from services.collector.node_groups import node_groups_from_assets
from shared.events import AllocationKind
from shared.ids import workload_uid
from tests.support.replay import OPENCOST

CONFIG = parse_config(
    {
        "clusters": [
            {
                "name": "default-cluster",
                "base_url": "http://kubecost.test",
                "id": "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
            }
        ]
    }
)
CLUSTER = CONFIG.clusters[0]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _fixture_steps() -> list[dict[str, object]]:
    return steps_of((OPENCOST / "allocation-7d-by-namespace.json").read_bytes())


def test_fixture_fields_are_mapped_exactly() -> None:
    report = MappingReport()
    events = {e.name: e for e in map_step(_fixture_steps()[0], CLUSTER, CONFIG, {}, NOW, report)}
    assert set(events) == {"kube-system", "opencost", "prometheus"}
    raw = json.loads(
        (OPENCOST / "allocation-7d-by-namespace.json").read_text(), parse_float=Decimal
    )["data"][0]
    for name, event in events.items():
        source = raw[name]
        assert event.total_cost == int(source["totalCost"] * 1_000_000)
        assert event.cpu_cost == int((source["cpuCost"] + source["cpuCostAdjustment"]) * 10**6)
        assert event.ram_cost == int((source["ramCost"] + source["ramCostAdjustment"]) * 10**6)
        assert event.cost == event.total_cost
        assert event.idle_share == 0
        assert event.namespace == source["properties"]["namespace"]
        assert event.window_start == datetime(2023, 7, 12, 11, 2, 46, tzinfo=UTC)
        assert event.window_end == datetime(2023, 7, 19, 11, 2, 46, tzinfo=UTC)
        assert event.cpu_core_usage_average == float(source["cpuCoreUsageAverage"])
        assert event.kind is AllocationKind.WORKLOAD
    opencost = events["opencost"]
    assert opencost.controller_kind == "deployment"
    assert opencost.workload_uid == workload_uid(CLUSTER.id, "opencost", "deployment", "opencost")
    assert events["kube-system"].workload_uid is None  # a namespace has no controller
    assert report.invalid_numbers == 0


def test_event_ids_are_deterministic() -> None:
    first = map_step(_fixture_steps()[0], CLUSTER, CONFIG, {}, NOW, MappingReport())
    again = map_step(_fixture_steps()[0], CLUSTER, CONFIG, {}, datetime.now(UTC), MappingReport())
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert len({e.event_id for e in first}) == 3


def _alloc(name: str, total: str, **props: str) -> dict[str, object]:
    return {
        "name": name,
        "properties": {"namespace": props.get("namespace", ""), **props},
        "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
        "totalCost": Decimal(total),
        "cpuCost": Decimal(total),
    }


def test_idle_is_shared_in_proportion_and_sums_to_the_idle_cost() -> None:
    step = {
        "a": _alloc("a", "3.00000", namespace="x", controller="a", controllerKind="deployment"),
        "b": _alloc("b", "1.00000", namespace="y", controller="b", controllerKind="deployment"),
        "__idle__": _alloc("__idle__", "1.00001"),
    }
    events = {e.name: e for e in map_step(step, CLUSTER, CONFIG, {}, NOW, MappingReport())}
    idle = events["__idle__"]
    assert idle.kind is AllocationKind.IDLE
    assert idle.cost == 0
    assert idle.idle_share == 0
    assert events["a"].idle_share + events["b"].idle_share == 1_000_010
    assert events["a"].idle_share == 750_008  # 3/4 of 1.00001, the odd micro-unit to the larger
    fully_loaded = sum(e.cost + e.idle_share for e in events.values())
    assert fully_loaded == sum(e.total_cost for e in events.values())


def test_idle_with_no_workload_to_carry_it_stays_on_the_idle_row() -> None:
    step = {"__idle__": _alloc("__idle__", "2.50000")}
    (idle,) = map_step(step, CLUSTER, CONFIG, {}, NOW, MappingReport())
    assert idle.cost == 0
    assert idle.idle_share == 2_500_000


def test_non_finite_and_junk_numbers_count_as_zero_and_are_reported() -> None:
    body = (
        b'{"code":200,"data":[{"a":{"name":"a","properties":{"namespace":"n"},'
        b'"window":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00Z"},'
        b'"totalCost":NaN,"cpuCost":"oops","ramCost":null,"gpuCost":1.5}}]}'
    )
    report = MappingReport()
    (event,) = map_step(steps_of(body)[0], CLUSTER, CONFIG, {}, NOW, report)
    assert event.total_cost == 0
    assert event.gpu_cost == 1_500_000
    assert report.invalid_numbers == 1  # "oops"; NaN became null, null counts as absent


@pytest.mark.parametrize(
    "body",
    [b'{"code":200,"data":[{"a":', b"<html>502</html>", b'{"code":500,"message":"boom"}'],
)
def test_broken_responses_raise_a_clear_error(body: bytes) -> None:
    with pytest.raises(KubecostResponseError):
        steps_of(body)


def test_labels_match_in_raw_and_sanitized_form() -> None:
    assert pick_label({"app_kubernetes_io_name": "web"}, ["app.kubernetes.io/name"]) == "web"
    assert pick_label({"team": "core"}, ["org", "team"]) == "core"
    assert pick_label({}, ["team"]) == ""


def test_node_groups_come_from_the_assets_fixture() -> None:
    groups = node_groups_from_assets(steps_of((OPENCOST / "assets-7d.json").read_bytes()))
    assert groups["gke-opencost-1-default-pool-a30d4801-81dm"] == "default-pool"


def test_cluster_ids_are_uuids() -> None:
    assert isinstance(CLUSTER.id, uuid.UUID)
