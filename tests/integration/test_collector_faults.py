"""A Kubecost that errors, hangs or cuts its answer short costs only its own cluster: the window
is recorded as a gap after retries, the other clusters keep flowing, and the gap is resolved by
the next successful fetch. An unexpected exception in one cluster is contained the same way."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest
from prometheus_client import REGISTRY

from services.kubecost_sim.model import SimConfig, ground_truth_total
from services.kubecost_sim.server import serve_in_thread
from shared.timewindows import floor_hour, isoformat_z
from tests.support.collector_harness import collector_config, collector_harness, latest, of_cluster
from tests.support.replay import Route, replay_server

pytestmark = pytest.mark.integration

# Half past midnight: with daily chunks and one day of backfill, each cluster asks for exactly
# one window, so a replayed recording of that window is the right answer to it.
NOW = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
TARGET = floor_hour(NOW)
START = TARGET - timedelta(days=1)
SIM = SimConfig(seed=31, clusters=5, workloads_per_cluster=3, now=NOW)
FAULTS = {  # replay path -> (simulated cluster it stands for, expected error category)
    "/c500": (2, "http_500"),
    "/slow": (3, "timeout"),
    "/cut": (4, "bad_response"),
}


def _recorded(sim_url: str, index: int, api: str = "allocation") -> bytes:
    """The simulator's answer to the collector's request for [START, TARGET), recorded."""
    allocation_only = {"aggregate": "pod", "includeIdle": "true"} if api == "allocation" else {}
    response = httpx.get(
        f"{sim_url}/clusters/{index}/model/{api}",
        params={
            "window": f"{isoformat_z(START)},{isoformat_z(TARGET)}",
            "accumulate": "false",
            "step": "1h",
            **allocation_only,
        },
    )
    response.raise_for_status()
    return response.content


async def test_failures_become_gaps_while_other_clusters_flow(
    pipeline_env: dict[str, str],
) -> None:
    with serve_in_thread(SIM) as sim_url:
        recordings = {path: _recorded(sim_url, index) for path, (index, _) in FAULTS.items()}
        routes = {
            "/c500/model/allocation": Route(
                b'{"code":500,"status":"error","message":"query failed"}', status=500
            ),
            "/slow/model/allocation": Route(recordings["/slow"], delay=1.0),
            "/cut/model/allocation": Route(
                recordings["/cut"], truncate_to=len(recordings["/cut"]) // 2
            ),
            # Assets answer throughout: only the allocations fail, and then heal.
            **{
                f"{p}/model/assets": Route(_recorded(sim_url, i, "assets"))
                for p, (i, _) in FAULTS.items()
            },
        }
        with replay_server(routes, quiet_disconnects=True) as replay:
            clusters = [
                {"name": f"flowing-{i}", "base_url": f"{sim_url}/clusters/{i}"} for i in range(2)
            ] + [
                {"name": f"faulty{path[1:]}", "base_url": replay.base_url + path} for path in FAULTS
            ]
            config = collector_config(
                clusters, chunk_hours=24, request_timeout_seconds=0.3, max_attempts=3
            )
            ids = {c.name: c.id for c in config.clusters}
            async with collector_harness(pipeline_env) as harness:
                collector = harness.collector(config, NOW)
                await collector.run(once=True)
                gaps = {row[0]: row for row in await harness.gaps()}
                watermarks = await harness.watermarks()
                flowing = latest(await harness.events())

                for path in FAULTS:
                    replay.routes[f"{path}/model/allocation"] = Route(recordings[path])
                await collector.run(once=True)
                healed_gaps = await harness.gaps()
                healed_watermarks = await harness.watermarks()
                events = latest(await harness.events())

    for i in range(2):
        cluster_id = ids[f"flowing-{i}"]
        assert watermarks[cluster_id] == TARGET
        expected = ground_truth_total(SIM, i, START, TARGET) * 1_000_000
        assert sum(e.total_cost for e in of_cluster(flowing.values(), cluster_id)) == expected
        assert cluster_id not in gaps
    assert set(gaps) == {ids[f"faulty{path[1:]}"] for path in FAULTS}
    for path, (index, category) in FAULTS.items():
        name = f"faulty{path[1:]}"
        cluster_id = ids[name]
        _, start, end, reason, attempts, resolved_at = gaps[cluster_id]
        assert (start, end, attempts, resolved_at) == (START, TARGET, 3, None)
        assert reason.startswith(
            {"http_500": "HTTP 500", "timeout": "timeout"}.get(category, "bad")
        )
        assert cluster_id not in watermarks
        assert collector.stats[cluster_id].errors == {category: 1}
        assert collector.stats[cluster_id].retries == {category: 2}
        labels = {"cluster": name, "reason": category}
        assert REGISTRY.get_sample_value("costpipe_collector_errors_total", labels) == 1.0
        assert REGISTRY.get_sample_value("costpipe_collector_retries_total", labels) == 2.0

        assert healed_watermarks[cluster_id] == TARGET
        expected = ground_truth_total(SIM, index, START, TARGET) * 1_000_000
        assert sum(e.total_cost for e in of_cluster(events.values(), cluster_id)) == expected
    assert all(row[-1] is not None for row in healed_gaps)
    assert len(healed_gaps) == len(FAULTS)


def _oversized_allocation() -> bytes:
    """A well-formed answer whose one allocation carries a label too large for any Kafka
    message: producing it fails inside the Kafka client, an error no fetch handling catches."""
    allocation = {
        "name": "huge",
        "properties": {
            "namespace": "n",
            "controller": "huge",
            "controllerKind": "deployment",
            "labels": {"app": "x" * 1_100_000},
        },
        "window": {"start": isoformat_z(START), "end": isoformat_z(START + timedelta(hours=1))},
        "totalCost": 1.0,
    }
    return msgspec.json.encode({"code": 200, "data": [{"huge": allocation}]})


async def test_an_exception_in_one_cluster_never_stops_the_others(
    pipeline_env: dict[str, str],
) -> None:
    with (
        serve_in_thread(SIM) as sim_url,
        replay_server({"/model/allocation": Route(_oversized_allocation())}) as replay,
    ):
        config = collector_config(
            [
                {"name": "poisoned", "base_url": replay.base_url},
                {"name": "healthy", "base_url": f"{sim_url}/clusters/0"},
            ],
            chunk_hours=24,
            poll_interval_seconds=0.05,
        )
        poisoned, healthy = (c.id for c in config.clusters)
        async with collector_harness(pipeline_env) as harness:
            collector = harness.collector(config, NOW)
            stop = asyncio.Event()
            running = asyncio.create_task(collector.run(stop))
            async with asyncio.timeout(30):
                # The stats are plain counters with no event to wait on; poll them.
                while collector.stats[poisoned].polls < 3 or collector.stats[healthy].polls < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            stop.set()
            await running
            watermarks = await harness.watermarks()
            events = latest(await harness.events())

    assert collector.stats[poisoned].errors["kafka"] >= 3  # every cycle failed, none gave up
    assert poisoned not in watermarks
    assert watermarks[healthy] == TARGET
    expected = ground_truth_total(SIM, 0, START, TARGET) * 1_000_000
    assert sum(e.total_cost for e in of_cluster(events.values(), healthy)) == expected
    assert collector.stats[healthy].errors == {}
