"""Faults during an end-to-end run with the simulator as the source, one pipeline for the module.

Collector, aggregator and API run as their own processes over a TimescaleDB and a Kafka broker
that this module owns, so each can be killed or stopped for real. Each test breaks one thing,
checks that the data-health report showed the outage while it lasted, heals it, and then checks
that the API's totals equal the simulator's ground truth to the API's last decimal, every hour
of every cluster.

The simulator's clock is pinned when the module starts (a fixed `now`), so the ground truth of
every hour is fixed for the run; it sits at the present so that the data-health report, which
looks at the hours up to now, sees the collected data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.kubecost_sim.model import SimConfig
from shared.localservices.process import free_port
from tests.support.fault_pipeline import FaultPipeline, fault_pipeline, wait_for
from tests.support.faulty_kubecost import Fault
from tests.support.processes import metric_value
from tests.support.reliability_report import record

pytestmark = pytest.mark.integration


def _body(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def pipeline() -> Iterator[FaultPipeline]:
    sim = SimConfig(seed=23, clusters=3, workloads_per_cluster=3, now=datetime.now(UTC))
    with fault_pipeline(sim) as started:
        started.start_aggregator()
        started.start_api()
        yield started
        record("faults_survived", len(started.faults_survived))
        record("faults", started.faults_survived)


def test_collector_sigkilled_mid_backfill_and_restarted(pipeline: FaultPipeline) -> None:
    pipeline.source.delay_seconds = 0.3  # a backfill long enough to strike in
    pipeline.start_collector()
    wait_for("a first watermark", pipeline.watermarks, 90, pipeline.logs)
    pipeline.kill(pipeline.collector)
    pipeline.source.delay_seconds = 0.0

    # While it is down: hours missing from the last day, and the report says so.
    down = pipeline.health_when(
        "missing hours", lambda r: r.status_code == 200 and r.json()["status"] == "degraded"
    )
    assert any(c["gaps"] for c in _body(down)["clusters"]), down.text

    pipeline.start_collector()
    pipeline.wait_until_exact()
    pipeline.faults_survived.append("collector SIGKILL mid-backfill, restarted")


@pytest.mark.parametrize("fault", [Fault.ERROR_500, Fault.HANG, Fault.TRUNCATED])
def test_kubecost_fails_then_recovers(pipeline: FaultPipeline, fault: Fault) -> None:
    broken = 1
    cluster_id = str(pipeline.cluster_ids[broken])
    pipeline.source.faults[broken] = fault

    def gap_reported(response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        clusters = {c["cluster_id"]: c for c in response.json()["clusters"]}
        return int(clusters[cluster_id]["open_collector_gaps"]) > 0

    during = pipeline.health_when(f"an open gap for Kubecost {fault}", gap_reported)
    others = [c for c in _body(during)["clusters"] if c["cluster_id"] != cluster_id]
    assert all(c["open_collector_gaps"] == 0 for c in others), "one source's fault spread"

    pipeline.source.faults.pop(broken)
    pipeline.wait_until_exact()
    pipeline.faults_survived.append(f"Kubecost {fault} on one cluster")


def test_aggregator_sigkilled_and_restarted(pipeline: FaultPipeline) -> None:
    pipeline.kill(pipeline.aggregator)
    # The collector re-polls recent hours every cycle; with nobody consuming, lag builds up.
    lagging = pipeline.health_when(
        "consumer lag",
        lambda r: r.status_code == 200 and (r.json()["pipeline"]["consumer_lag"] or 0) > 0,
    )
    assert _body(lagging)["pipeline"]["status"] == "ok"

    # Started again with exactly the same environment (group id included), it resumes by
    # itself: within 30 s it commits again.
    with pipeline.commit_watch() as watch:
        pipeline.start_aggregator()
        started = time.monotonic()
        _, first, _ = watch.wait(watch.committed() + 1, [(pipeline.aggregator, pipeline.log)], 30)
    assert first is not None
    record("aggregator_sigkill_resume_seconds", round(first - started, 2))
    pipeline.wait_until_exact()
    pipeline.faults_survived.append("aggregator SIGKILL, restarted with the same configuration")


def test_database_stopped_and_restarted(pipeline: FaultPipeline) -> None:
    pipeline.database.stop(mode="fast")
    try:
        down = pipeline.health_when("the database unavailable", lambda r: r.status_code == 503)
        assert down.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert down.headers["retry-after"]
        time.sleep(2)
        assert pipeline.aggregator is not None
        assert pipeline.aggregator.poll() is None, pipeline.logs()
    finally:
        pipeline.database.start()
    pipeline.wait_until_exact()
    assert pipeline.collector_produces(), f"nothing collected after the restart:\n{pipeline.logs()}"
    pipeline.faults_survived.append("database stopped, restarted")


def test_broker_stopped_and_restarted(pipeline: FaultPipeline) -> None:
    pipeline.broker.stop()
    try:
        down = pipeline.health_when(
            "the broker unavailable",
            lambda r: r.status_code == 200 and r.json()["pipeline"]["status"] == "unavailable",
        )
        assert _body(down)["status"] == "degraded"
        time.sleep(2)  # the collector and aggregator keep failing for a while
        assert pipeline.aggregator is not None
        assert pipeline.aggregator.poll() is None, pipeline.logs()
    finally:
        pipeline.broker.start()
    pipeline.wait_until_exact()
    pipeline.faults_survived.append("broker stopped, restarted")


def test_collector_produces_again_after_the_broker_restart(pipeline: FaultPipeline) -> None:
    assert pipeline.collector_produces(timeout=8), f"nothing since the restart:\n{pipeline.logs()}"


def _assigned_partitions(port: int) -> int | None:
    found = metric_value(port, "costpipe_aggregator_assigned_partitions")
    return None if found is None else int(found)


def test_two_aggregators_share_the_group_and_one_is_killed(pipeline: FaultPipeline) -> None:
    """Scale-out: a second aggregator with the same configuration takes its share of the
    partitions; SIGKILLed and started again unchanged, it takes its share back at once, and the
    totals stay exact. (On Apache Kafka the survivor would also take the dead one's partitions
    after the session timeout; the local emulated broker never evicts a member, see
    docs/reliability.md.)"""
    if pipeline.collector is None or pipeline.collector.poll() is not None:
        pipeline.start_collector()  # commits need new records (run alone, no test started it)
    port = free_port()
    topics = 2  # allocations and assets, three partitions each
    pipeline.start_second_aggregator(port)
    wait_for(
        "the second aggregator owning partitions",
        lambda: (_assigned_partitions(port) or 0) > 0,
        60,
        pipeline.logs,
    )
    second_share = _assigned_partitions(port)
    assert second_share is not None
    assert 0 < second_share < 3 * topics, second_share

    pipeline.kill(pipeline.aggregator_2)
    with pipeline.commit_watch() as watch:
        pipeline.start_second_aggregator(port)
        started = time.monotonic()
        wait_for(
            "the restarted aggregator owning its partitions again",
            lambda: _assigned_partitions(port) == second_share,
            30,
            pipeline.logs,
        )
        record("second_aggregator_reassigned_seconds", round(time.monotonic() - started, 2))
        watch.wait(watch.committed() + 1, [(pipeline.aggregator_2, pipeline.log)], 30)
    pipeline.wait_until_exact()
    pipeline.faults_survived.append(
        "second aggregator SIGKILL, restarted with the same configuration"
    )
