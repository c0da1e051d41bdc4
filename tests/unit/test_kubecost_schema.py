"""The typed decoding of Kubecost answers gives the same events as the tolerant one: for the
simulator's answers (the typed path), and for answers only the tolerant path takes (junk
numbers, bare NaN, null allocations), which fall back to it and are converted to the same structs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from services.collector.allocations import MappingReport, map_step
from services.collector.assets import map_asset_step
from services.collector.config import parse_config
from services.collector.kubecost_response import KubecostResponseError, steps_of
from services.collector.kubecost_schema import (
    Allocation,
    Asset,
    allocation_steps_of,
    asset_steps_of,
)
from services.collector.node_groups import node_groups_from_assets
from services.kubecost_sim import model
from services.kubecost_sim.model import SimConfig
from shared.ids import allocation_event_id, asset_event_id, event_ids_of_window

CONFIG = parse_config({"clusters": [{"name": "typed", "base_url": "http://k"}]})
CLUSTER = CONFIG.clusters[0]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2026, 11, 1, tzinfo=UTC)
SIM = SimConfig(seed=3, clusters=1, workloads_per_cluster=8)
H = timedelta(hours=1)


def _body(data: Any) -> bytes:
    return msgspec.json.encode({"code": 200, "status": "success", "data": data})


def _mapped(steps: list[Any], asset_steps: list[Any]) -> tuple[list[Any], list[Any], Any]:
    report = MappingReport()
    groups = node_groups_from_assets(asset_steps)
    events = [e for s in steps for e in map_step(s, CLUSTER, CONFIG, groups, NOW, report)]
    assets = [e for s in asset_steps for e in map_asset_step(s, CLUSTER, NOW, report)]
    return events, assets, (report.invalid_numbers, report.skipped, groups)


def test_simulator_answers_decode_typed_to_the_same_events_as_dicts() -> None:
    allocations = _body(
        [
            model.allocation_window(SIM, 0, START + i * H, START + (i + 1) * H, "pod", True)
            for i in range(6)
        ]
    )
    assets = _body(
        [model.asset_window(SIM, 0, START + i * H, START + (i + 1) * H) for i in range(6)]
    )
    typed = allocation_steps_of(allocations), asset_steps_of(assets)
    assert all(isinstance(v, Allocation) for step in typed[0] for v in step.values())
    assert all(isinstance(v, Asset) for step in typed[1] for v in step.values())
    events, asset_events, report = _mapped(*typed)
    assert len(events) > 50
    assert len(asset_events) > 10
    assert (events, asset_events, report) == _mapped(steps_of(allocations), steps_of(assets))


@pytest.mark.parametrize(
    "body",
    [
        # a string that is no number, a bare NaN, a null allocation, a label that is no string
        b'{"code":200,"data":[{"a":{"name":"a","properties":{"namespace":"n","controller":"c",'
        b'"labels":{"team":5,"owner":"o"}},"window":{"start":"2026-01-01T00:00:00Z",'
        b'"end":"2026-01-01T01:00:00Z"},"totalCost":NaN,"cpuCost":"oops","ramCost":null,'
        b'"gpuCost":1.5,"minutes":"60"},"b":null,"__idle__":{"start":"2026-01-01T00:00:00Z",'
        b'"end":"2026-01-01T01:00:00Z","totalCost":"2.5"}}]}',
        # strings the typed path takes: "NaN" and "Infinity" are invalid, "1e-7" exact
        b'{"code":200,"data":[{"a":{"name":"a","properties":{"namespace":"n","pod":"p"},'
        b'"window":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00Z"},'
        b'"totalCost":"NaN","cpuCost":"Infinity","ramCost":1e-7,"gpuCost":1.0000005,'
        b'"minutes":60,"cpuCoreHours":1e400}}]}',
    ],
)
def test_answers_only_the_tolerant_decoding_takes_give_the_same_events(body: bytes) -> None:
    empty = b'{"code":200,"data":[]}'
    typed = _mapped(allocation_steps_of(body), asset_steps_of(empty))
    assert typed == _mapped(steps_of(body), steps_of(empty))
    assert typed[2][0] >= 1  # invalid numbers were counted


def test_error_answers_raise_as_before() -> None:
    for body in (b'{"code":500,"message":"boom"}', b"<html>", b'{"code":200,"data":7}'):
        with pytest.raises(KubecostResponseError):
            allocation_steps_of(body)
        with pytest.raises(KubecostResponseError):
            asset_steps_of(body)


def test_event_ids_of_a_window_are_the_ids_one_at_a_time() -> None:
    allocation_ids = event_ids_of_window(CLUSTER.id, START)
    asset_ids = event_ids_of_window(CLUSTER.id, START, assets=True)
    for name in ("a", "ns/pod-é", "__idle__", ""):
        assert allocation_ids(name) == allocation_event_id(CLUSTER.id, START, name)
        assert asset_ids(name) == asset_event_id(CLUSTER.id, START, name)
