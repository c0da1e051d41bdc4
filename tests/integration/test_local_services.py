"""Each service by hand, the way the README tells a newcomer: `costpipe local-services` in one
terminal, then `costpipe collector`, `costpipe aggregator` and `costpipe api` each in its own,
every one with its default ports. Before the services had distinct default metrics ports the
second of collector and aggregator failed to start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import serve_in_thread
from shared.localservices.process import port_is_free
from shared.settings import AGGREGATOR_METRICS_PORT, COLLECTOR_METRICS_PORT
from tests.support.fault_pipeline import wait_for
from tests.support.processes import stop_process

pytestmark = pytest.mark.integration

COSTPIPE = [sys.executable, "-m", "services.cli"]
API_PORT = 8080


def _clean_env() -> dict[str, str]:
    """The operator's environment: no COSTPIPE_* setting left over from the test run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COSTPIPE_")}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*COSTPIPE, *args], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200
    except httpx.TransportError:
        return False


def test_local_services_then_each_service_by_hand_with_its_defaults(
    scratch_dir: Path, tmp_path: Path
) -> None:
    ports = (COLLECTOR_METRICS_PORT, AGGREGATOR_METRICS_PORT, API_PORT)
    if not all(port_is_free(p) for p in ports):
        pytest.fail(f"a default port of {ports} is taken on this machine: the test needs them")
    log = tmp_path / "services.log"
    local = _start(["local-services", "--data-dir", str(scratch_dir)], _clean_env(), log)
    started: list[subprocess.Popen[bytes]] = []
    try:
        exports = wait_for(
            "the export lines",
            lambda: dict(re.findall(r"export (COSTPIPE_\w+)='([^']+)'", log.read_text())) or None,
            120,
        )
        assert set(exports) == {"COSTPIPE_DATABASE_URL", "COSTPIPE_KAFKA_BOOTSTRAP"}, exports
        sim = SimConfig(seed=3, clusters=1, workloads_per_cluster=3, now=datetime.now(UTC))
        with serve_in_thread(sim) as sim_url:
            env = {**_clean_env(), **exports}
            collector_env = {**env, "COSTPIPE_KUBECOST_URL": sim_url}
            started.append(_start(["collector"], collector_env, tmp_path / "collector.log"))
            started.append(_start(["aggregator"], env, tmp_path / "aggregator.log"))
            started.append(_start(["api"], env, tmp_path / "api.log"))

            def logs() -> str:
                return "\n".join(
                    p.read_text(errors="replace")[-3000:] for p in sorted(tmp_path.glob("*.log"))
                )

            for port in ports:
                wait_for(f"/readyz 200 on the default port {port}", lambda p=port: _ready(p), 90)

            def rows() -> int | None:
                with psycopg.connect(exports["COSTPIPE_DATABASE_URL"]) as conn:
                    found = conn.execute("SELECT count(*) FROM allocation").fetchone()
                return found[0] if found and found[0] > 0 else None

            wait_for("allocations written by the aggregator", rows, 120, logs)
            time.sleep(1)
            assert all(p.poll() is None for p in started), logs()
    finally:
        for process in reversed(started):
            stop_process(process, timeout=20)
        stop_process(local, timeout=20)
    assert local.returncode == 0, log.read_text(errors="replace")
