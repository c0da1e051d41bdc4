"""The mapping of the recorded OpenCost assets response to asset cost events, field by field,
against numbers read from the file independently (Decimal straight from the JSON text)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.collector.allocations import MappingReport
from services.collector.assets import map_asset_step
from services.collector.config import parse_config
from services.collector.kubecost_response import steps_of
from shared.asset_events import AssetCostEvent, AssetDecoder, AssetType, encode_asset_event
from shared.ids import asset_event_id
from tests.support.replay import OPENCOST

CLUSTER = parse_config(
    {"clusters": [{"name": "assets", "base_url": "http://kubecost.test"}]}
).clusters[0]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FILE = OPENCOST / "assets-7d.json"


def _micros(value: Decimal) -> int:
    scaled = value * 1_000_000
    assert scaled == scaled.to_integral_value()  # the file has at most six decimals
    return int(scaled)


def _mapped() -> tuple[dict[str, AssetCostEvent], MappingReport]:
    report = MappingReport()
    (step,) = steps_of(FILE.read_bytes())
    events = map_asset_step(step, CLUSTER, NOW, report)
    return {e.asset_key: e for e in events}, report


def test_recorded_assets_are_mapped_exactly() -> None:
    events, report = _mapped()
    raw: dict[str, Any] = json.loads(FILE.read_text(), parse_float=Decimal)["data"]
    assert set(events) == set(raw)
    assert report.invalid_numbers == 0
    assert report.skipped == []
    node_key = next(k for k, a in raw.items() if a["type"] == "Node")
    disk_key = next(k for k, a in raw.items() if a["type"] == "Disk")

    node, source = events[node_key], raw[node_key]
    assert node.asset_type is AssetType.NODE
    assert node.name == node.provider_id == "gke-opencost-1-default-pool-a30d4801-81dm"
    assert node.node_group == "default-pool"  # the GKE node-pool label
    assert node.cpu_cost == _micros(source["cpuCost"]) == 307_185
    assert node.ram_cost == _micros(source["ramCost"]) == 158_929
    assert node.gpu_cost == 0
    assert node.adjustment == 0
    assert node.total_cost == _micros(source["totalCost"]) == 466_114
    assert node.total_cost == node.cpu_cost + node.ram_cost  # no discount, GPU or adjustment
    assert node.cpu_cores == float(source["cpuCores"]) == 0.5
    assert node.ram_bytes == float(source["ramBytes"])
    assert node.minutes == float(source["minutes"]) == 3970.0
    assert node.window_start == datetime(2024, 6, 22, tzinfo=UTC)
    assert node.window_end == datetime(2024, 6, 29, tzinfo=UTC)
    assert node.event_id == asset_event_id(CLUSTER.id, node.window_start, node_key)
    assert (node.cluster_id, node.produced_at) == (CLUSTER.id, NOW)

    disk, source = events[disk_key], raw[disk_key]
    assert disk.asset_type is AssetType.DISK
    assert disk.name == "pvc-95211d76-7842-4182-bdb6-de4133f46b78"
    assert disk.node_group == ""
    assert disk.total_cost == _micros(source["totalCost"]) == 65_973
    assert (disk.cpu_cost, disk.ram_cost, disk.gpu_cost) == (0, 0, 0)
    assert disk.bytes == float(source["bytes"]) == 8589934592.0
    assert disk.minutes == 9030.0


def test_events_round_trip_through_their_encoding() -> None:
    events, _ = _mapped()
    decoder = AssetDecoder()
    for event in events.values():
        assert decoder.decode(encode_asset_event(event)) == event


def test_missing_and_non_finite_numbers_count_as_zero_and_are_reported() -> None:
    body = (
        b'{"code":200,"data":[{'
        b'"lb":{"type":"LoadBalancer","properties":{"name":"ingress","providerID":"10.0.0.1"},'
        b'"window":{"start":"2026-03-01T00:00:00Z","end":"2026-03-01T01:00:00Z"},'
        b'"totalCost":"NaN","adjustment":-0.25,"minutes":null},'
        b'"node":{"type":"Node","labels":{"karpenter_sh_nodepool":"spot"},"pool":"ignored",'
        b'"start":"2026-03-01T00:00:00Z","end":"2026-03-01T01:00:00Z",'
        b'"cpuCost":"0.1","ramCost":Infinity,"discount":0.3,"gpuCount":2},'
        b'"cloud":{"type":"Cloud","totalCost":1.5,'
        b'"window":{"start":"2026-03-01T00:00:00Z","end":"2026-03-01T01:00:00Z"}},'
        b'"nowindow":{"type":"Disk","totalCost":1.0},'
        b'"junk":7}]}'
    )
    report = MappingReport()
    (step,) = steps_of(body)
    events = {e.asset_key: e for e in map_asset_step(step, CLUSTER, NOW, report)}
    assert set(events) == {"lb", "node", "cloud"}
    # The string "NaN" is reported; a bare Infinity (not JSON) is read as null, like null: absent.
    assert report.invalid_numbers == 1
    assert len(report.skipped) == 2
    lb, node, cloud = events["lb"], events["node"], events["cloud"]
    assert lb.asset_type is AssetType.LOAD_BALANCER
    assert (lb.name, lb.provider_id) == ("ingress", "10.0.0.1")
    assert (lb.total_cost, lb.adjustment, lb.minutes) == (0, -250_000, 0.0)
    assert node.node_group == "spot"  # a label wins over the pool
    assert (node.cpu_cost, node.ram_cost, node.discount, node.gpu_count) == (100_000, 0, 0.3, 2.0)
    assert node.window_start == datetime(2026, 3, 1, tzinfo=UTC)
    assert (cloud.asset_type, cloud.total_cost) == (AssetType.OTHER, 1_500_000)
