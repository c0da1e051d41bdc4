"""Group membership and shutdown as an SRE meets them: an aggregator left without partitions says
so, one whose instance id another live aggregator holds waits and says why, and SIGTERM ends the
process within 10 s in each of these states, and while the broker does not answer at all (the
collector's too).

Each aggregator is a real process (`costpipe aggregator`) with its own metrics port, read over
HTTP like Prometheus and a Kubernetes readiness probe would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.aggregator.membership import KEEPALIVE, InstanceLease
from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import serve_in_thread
from services.ops_server import Readiness
from shared.localservices.kafka import LocalKafka
from shared.localservices.process import free_port
from shared.settings import AggregatorSettings, DatabaseSettings, KafkaSettings
from tests.support.aggregator_helpers import aggregator_process, produce, synthetic_stream, tail
from tests.support.fault_pipeline import wait_for
from tests.support.processes import metric_value, start_costpipe
from tests.support.reliability_report import record

pytestmark = pytest.mark.integration

STOP_WITHIN_SECONDS = 10


def _not_ready_because(port: int, words: str) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    except httpx.TransportError:
        return None
    if response.status_code != 503:
        return None
    problems = " ".join(response.json()["problems"])
    return problems if words in problems else None


def _sigterm_exits_promptly(process: subprocess.Popen[bytes], log: Path, state: str) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_WITHIN_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"SIGTERM ignored {state}:\n{tail(log)}") from None
    assert code == 0, f"exited {code} {state}:\n{tail(log)}"
    return round(time.monotonic() - started, 2)


def _with_port(env: dict[str, str], port: int, **extra: str) -> dict[str, str]:
    return {**env, "COSTPIPE_METRICS_PORT": str(port), **extra}


def test_an_aggregator_owning_no_partition_is_loud_and_stops_promptly(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    # One partition per topic, two topics, three members: one of them is given nothing to do.
    env = {**pipeline_env, "COSTPIPE_KAFKA_PARTITIONS": "1"}
    env["COSTPIPE_ASSIGNMENT_GRACE_SECONDS"] = "2"
    ports = [free_port() for _ in range(3)]
    log = tmp_path / "aggregators.log"
    gauge = "costpipe_aggregator_assigned_partitions"
    with contextlib.ExitStack() as stack:
        processes = [
            stack.enter_context(aggregator_process(_with_port(env, p), log)) for p in ports
        ]

        def shares() -> list[float] | None:
            found = [metric_value(port, gauge) for port in ports]
            known = [f for f in found if f is not None]
            return known if len(known) == 3 and sum(known) == 2 and 0 in known else None

        idle = wait_for("the partitions shared out", shares, 60, lambda: tail(log)).index(0)
        reason = wait_for(
            "/readyz naming the stall",
            lambda: _not_ready_because(ports[idle], "owns no partition"),
            30,
            lambda: tail(log),
        )
        assert env["COSTPIPE_KAFKA_CONSUMER_GROUP"] in reason
        counted = metric_value(ports[idle], "costpipe_aggregator_unassigned_seconds_total")
        assert counted is not None
        assert counted > 0
        assert "owns no partition" in log.read_text()  # the WARNING line
        busy = (idle + 1) % 3
        assert _not_ready_because(ports[busy], "") is None, "a working member is not ready"
        record(
            "sigterm_seconds_while_unassigned",
            _sigterm_exits_promptly(processes[idle], log, "idle"),
        )
        record(
            "sigterm_seconds_while_consuming",
            _sigterm_exits_promptly(processes[busy], log, "busy"),
        )


def test_a_second_aggregator_with_the_same_instance_id_waits_and_says_why(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pipeline_env, "COSTPIPE_AGGREGATOR_INSTANCE_ID": "aggregator-a"}
    first_port, second_port = free_port(), free_port()
    log = tmp_path / "aggregators.log"
    with aggregator_process(_with_port(env, first_port), log) as first:
        gauge = "costpipe_aggregator_assigned_partitions"
        wait_for(
            "the first owning partitions",
            lambda: metric_value(first_port, gauge),
            60,
            lambda: tail(log),
        )
        with aggregator_process(_with_port(env, second_port), log) as second:
            wait_for(
                "/readyz of the second naming the held id",
                lambda: _not_ready_because(second_port, "held by another live aggregator"),
                30,
                lambda: tail(log),
            )
            assert metric_value(first_port, gauge) == 6, "the duplicate disturbed the first"
            # The first dies: its id is free at once, and the waiting one takes its place.
            first.kill()
            first.wait(timeout=10)
            wait_for(
                "the second owning every partition",
                lambda: metric_value(second_port, gauge) == 6,
                30,
                lambda: tail(log),
            )
            _sigterm_exits_promptly(second, log, "after taking over")


def test_an_aggregator_waiting_for_an_instance_id_stops_promptly(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pipeline_env, "COSTPIPE_AGGREGATOR_INSTANCE_ID": "aggregator-b"}
    first_port, second_port = free_port(), free_port()
    log = tmp_path / "aggregators.log"
    gauge = "costpipe_aggregator_assigned_partitions"
    with (
        aggregator_process(_with_port(env, first_port), log),
        contextlib.ExitStack() as stack,
    ):
        wait_for(
            "the first owning partitions",
            lambda: metric_value(first_port, gauge),
            60,
            lambda: tail(log),
        )
        second = stack.enter_context(aggregator_process(_with_port(env, second_port), log))
        wait_for(
            "the second waiting for its id",
            lambda: _not_ready_because(second_port, "held by another live aggregator"),
            60,
            lambda: tail(log),
        )
        record(
            "sigterm_seconds_while_waiting_for_an_id",
            _sigterm_exits_promptly(second, log, "waiting for an instance id"),
        )


@pytest.fixture
def own_broker() -> Iterator[LocalKafka]:
    root = Path(tempfile.mkdtemp(prefix="costpipe-broker-"))
    broker = LocalKafka(root / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        if broker.pid is not None:
            os.killpg(broker.pid, signal.SIGCONT)
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def _freeze(broker: LocalKafka) -> None:
    """Frozen, not stopped: connections stay open and nothing is ever answered."""
    assert broker.pid is not None
    os.killpg(broker.pid, signal.SIGSTOP)
    time.sleep(1)


def test_sigterm_while_the_broker_does_not_answer(
    pipeline_env: dict[str, str], own_broker: LocalKafka, tmp_path: Path
) -> None:
    env = {**pipeline_env, "COSTPIPE_KAFKA_BOOTSTRAP": own_broker.bootstrap}
    port = free_port()
    log = tmp_path / "aggregator.log"
    with aggregator_process(_with_port(env, port), log) as aggregator:
        gauge = "costpipe_aggregator_assigned_partitions"
        wait_for("owning partitions", lambda: metric_value(port, gauge), 60, lambda: tail(log))
        _freeze(own_broker)
        record(
            "sigterm_seconds_while_the_broker_hangs",
            _sigterm_exits_promptly(aggregator, log, "while the broker hangs"),
        )


def test_collector_sigterm_while_the_broker_does_not_answer(
    pipeline_env: dict[str, str], own_broker: LocalKafka, tmp_path: Path
) -> None:
    """The collector in the middle of a backfill, the broker frozen under it: SIGTERM still ends
    it within 10 s (the cycle in flight is abandoned; its watermark did not move)."""
    env = {**pipeline_env, "COSTPIPE_KAFKA_BOOTSTRAP": own_broker.bootstrap}
    sim = SimConfig(seed=5, clusters=1, workloads_per_cluster=20, now=datetime.now(UTC))
    log = tmp_path / "collector.log"
    with serve_in_thread(sim) as sim_url:
        config = tmp_path / "clusters.toml"
        config.write_text(
            "[defaults]\nbackfill_days = 60\nchunk_hours = 6\npoll_interval_seconds = 1\n"
            f'[[clusters]]\nname = "shutdown-0"\nbase_url = "{sim_url}"\n'
        )
        collector = start_costpipe(
            ["collector"], {**env, "COSTPIPE_COLLECTOR_CONFIG": str(config)}, log
        )
        try:
            # Read from its log: asking the broker early would create its topics first.
            wait_for(
                "the collector mid-backfill",
                lambda: "backfill progress" in log.read_text(),
                60,
                lambda: tail(log),
            )
            _freeze(own_broker)
            record(
                "collector_sigterm_seconds_while_the_broker_hangs",
                _sigterm_exits_promptly(collector, log, "while the broker hangs"),
            )
        finally:
            if collector.poll() is None:
                collector.kill()
            collector.wait(timeout=10)


def test_the_survivor_says_which_partitions_a_dead_member_left_waiting(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    """Two aggregators, one SIGKILLed, records arriving on every partition. Apache Kafka would
    hand the dead one's partitions to the survivor after the session timeout; the embedded
    broker never does. Either way nothing stalls silently: the survivor reports partitions with
    records waiting and no commit until the dead one is started again."""
    env = {
        **pipeline_env,
        "COSTPIPE_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "COSTPIPE_ASSIGNMENT_GRACE_SECONDS": "2",
    }
    kafka = KafkaSettings.from_env(env)
    first_port, second_port = free_port(), free_port()
    log = tmp_path / "aggregators.log"
    gauge = "costpipe_aggregator_assigned_partitions"
    stalled = "costpipe_aggregator_stalled_partitions"
    _, records = synthetic_stream(3000, seed=9)
    with (
        aggregator_process(_with_port(env, first_port), log),
        contextlib.ExitStack() as stack,
    ):
        wait_for(
            "the first owning partitions",
            lambda: metric_value(first_port, gauge),
            60,
            lambda: tail(log),
        )
        second = stack.enter_context(aggregator_process(_with_port(env, second_port), log))
        wait_for("the second owning partitions", lambda: metric_value(second_port, gauge), 60)
        second_share = metric_value(second_port, gauge)
        second.kill()
        second.wait(timeout=10)
        asyncio.run(produce(kafka.bootstrap, kafka.allocations_topic, records))
        found = wait_for(
            "the survivor reporting stalled partitions, or owning them all",
            lambda: metric_value(first_port, stalled) or metric_value(first_port, gauge) == 6,
            90,
            lambda: tail(log),
        )
        if found is True:  # a broker that evicts: the survivor took them over
            return
        # The dead one's partitions that records arrived on (none on the assets topic).
        assert second_share is not None
        assert 1 <= found <= second_share
        assert "the member that owns them is not consuming" in log.read_text()
        restarted = stack.enter_context(aggregator_process(_with_port(env, second_port), log))
        wait_for("the restarted one consuming", lambda: metric_value(second_port, gauge), 30)
        wait_for(
            "no partition stalled",
            lambda: metric_value(first_port, stalled) == 0,
            60,
            lambda: tail(log),
        )
        assert restarted.poll() is None


async def test_the_lease_connection_probes_its_peer_from_both_ends(database_url: str) -> None:
    """A vanished process's lock must be freed by the server, and a vanished server noticed here,
    within seconds: both ends of the lease connection send TCP keepalives."""
    lease = InstanceLease(
        DatabaseSettings(url=database_url),
        "keepalive-group",
        AggregatorSettings.from_env({"COSTPIPE_AGGREGATOR_INSTANCE_ID": "keepalive-0"}),
    )
    assert await lease.acquire(asyncio.Event(), Readiness())
    try:
        conn = lease._conn  # the connection whose session holds the lock
        assert conn is not None
        client = conn.info.get_parameters()
        idle, interval, count = KEEPALIVE
        assert client["keepalives"] == "1"
        assert client["keepalives_idle"] == str(idle)
        for setting, value in (
            ("tcp_keepalives_idle", idle),
            ("tcp_keepalives_interval", interval),
            ("tcp_keepalives_count", count),
        ):
            cursor = await conn.execute(f"SHOW {setting}")
            row = await cursor.fetchone()
            assert row is not None
            assert row[0] == f"{value}s" or row[0] == str(value), (setting, row[0])
    finally:
        await lease.release()
