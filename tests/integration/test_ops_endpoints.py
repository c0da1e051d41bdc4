"""The collector's and aggregator's operations endpoints, on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.localservices.process import free_port
from tests.support.pipeline import allocation, produce
from tests.support.processes import COSTPIPE

HOUR = timedelta(hours=1)

pytestmark = pytest.mark.integration


@contextmanager
def _service(command: str, env: Mapping[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*COSTPIPE, command],
        env={**os.environ, **env, "COSTPIPE_METRICS_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{command} endpoints never came up") from None
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=20) == 0, "SIGTERM must drain and exit 0"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _ready(base: str, expected: int, timeout: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(base + "/readyz", timeout=5)
        if response.status_code == expected or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_aggregator_is_ready_and_exports_metrics(pipeline_env: dict[str, str]) -> None:
    with _service("aggregator", pipeline_env) as base:
        ready = _ready(base, 200)
        assert ready.status_code == 200, ready.text
        metrics = httpx.get(base + "/metrics").text
        assert "process_cpu_seconds_total" in metrics or "python_gc_objects" in metrics


def test_readiness_fails_when_the_database_is_unreachable(pipeline_env: dict[str, str]) -> None:
    env = {
        **pipeline_env,
        "COSTPIPE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x",
    }
    with _service("aggregator", env) as base:
        response = _ready(base, 503)
        assert response.status_code == 503
        assert any(p.startswith("database") for p in response.json()["problems"])
        assert httpx.get(base + "/healthz").status_code == 200


def test_collector_endpoints(pipeline_env: dict[str, str]) -> None:
    env = {
        **pipeline_env,
        "COSTPIPE_KUBECOST_URL": f"http://127.0.0.1:{free_port()}",
        "COSTPIPE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
    }
    with _service("collector", env) as base:
        response = _ready(base, 503)
        assert response.status_code == 503
        assert any(p.startswith("broker") for p in response.json()["problems"])


def _lag(base: str) -> float | None:
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in httpx.get(base + "/metrics", timeout=5).text.splitlines()
        if line.startswith("costpipe_aggregator_consumer_lag{")
    ]
    return sum(values) if values else None


def test_lag_rises_under_load_and_returns_to_zero(pipeline_env: dict[str, str]) -> None:
    org = uuid.UUID("0000000a-0000-4000-8000-00000000fa57")
    cluster = uuid.uuid5(org, "load")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        allocation(
            organization_id=org,
            cluster_id=cluster,
            window_start=start + i * HOUR,
            window_end=start + (i + 1) * HOUR,
            name=f"w{w}",
            cost=1_000 + w,
        )
        for i in range(500)
        for w in range(60)
    ]
    # Small batches and a fast lag refresh: the backlog lasts several refreshes, even on a
    # loaded machine, so a sample catches it.
    env = {
        **pipeline_env,
        "COSTPIPE_BATCH_MAX_EVENTS": "100",
        "COSTPIPE_LAG_REFRESH_SECONDS": "0.1",
    }
    produce(env, events[:1])  # creates the topics and gives the group something to own
    with _service("aggregator", env) as base:
        deadline = time.monotonic() + 30
        while _lag(base) != 0:
            assert time.monotonic() < deadline, "lag never reported"
            time.sleep(0.2)
        producing = threading.Thread(target=produce, args=(env, events[1:]))
        producing.start()
        seen: list[float] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lag = _lag(base)
            assert lag is not None
            seen.append(lag)
            # The producer hands 30,000 events over in a fraction of a second, faster than the
            # lag refreshes: a 0 read right after it finished may predate the backlog.
            if not producing.is_alive() and lag == 0 and max(seen) > 0:
                break
            time.sleep(0.05)
        producing.join()
        metrics = httpx.get(base + "/metrics").text
    assert max(seen) > 0, "lag never went up under load"
    assert seen[-1] == 0, f"lag did not return to zero: {seen[-5:]}"
    events_line = next(
        line
        for line in metrics.splitlines()
        if line.startswith('costpipe_aggregator_events_total{kind="allocation"}')
    )
    assert float(events_line.rsplit(" ", 1)[1]) == len(events)
    assert 'costpipe_rollup_mode{mode="managed"} 1.0' in metrics
