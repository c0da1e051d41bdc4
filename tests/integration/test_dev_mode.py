"""`costpipe dev` as a newcomer meets it: the banner names everything a second terminal needs,
says the backfill runs, then prints "ready"; after that, with the printed key, every FinOps and
cost-trend endpoint answers 200 with content, the forecast included. (Small history, through
the command's own flags, for speed; the default is 120 days.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from shared.localservices.process import free_port
from tests.support.api_catalog import authenticated, key_headers
from tests.support.fault_pipeline import wait_for
from tests.support.processes import stop_process

pytestmark = pytest.mark.integration

DAYS = 16  # a forecast needs 14 complete days


def _content(body: Any) -> bool:
    """Something beyond empty lists, nulls and zeros somewhere in the answer's data."""
    if isinstance(body, dict):
        return any(_content(v) for k, v in body.items() if k not in {"meta"})
    if isinstance(body, list):
        return any(_content(v) for v in body)
    if isinstance(body, bool) or body is None:
        return False
    if isinstance(body, int | float):
        return body != 0
    return bool(body)


def _query(path: str) -> dict[str, str]:
    """Queries that ask for the simulated stretch (defaults elsewhere)."""
    if "/cost-trend" in path:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=7)
        return {"start": str(int(start.timestamp())), "end": str(int(end.timestamp()))}
    if path.endswith("/costs/forecast"):
        return {"model": "linear"}  # the quickest fit; the answer's shape is the same
    if path.endswith("/export/focus"):
        today = datetime.now(UTC).date()
        return {"from": str(today - timedelta(days=7)), "to": str(today)}
    return {}


def test_dev_prints_what_a_newcomer_needs_then_ready_and_every_endpoint_has_content(
    scratch_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "dev.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPIPE_")}
    env |= {"COSTPIPE_METRICS_PORT": "0", "COSTPIPE_LOG_LEVEL": "INFO"}
    args = ["dev", "--data-dir", str(scratch_dir), "--clusters", "1", "--backfill-days", str(DAYS)]
    with log.open("ab") as out:
        dev = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args, "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        banner = wait_for("the banner", lambda: "Press Ctrl+C" in log.read_text(), 120)
        assert banner
        text = log.read_text()
        key = re.search(r"API key:\s+(\S+)", text)
        url = re.search(r"export COSTPIPE_DATABASE_URL='([^']+)'", text)
        assert key, text
        assert url, text
        assert re.search(r"export .*COSTPIPE_KAFKA_BOOTSTRAP='[^']+'", text), text
        assert re.search(r"organization: [0-9a-f-]{36}", text), text
        assert "backfill" in text
        assert "running in the background" in text
        started = time.monotonic()
        wait_for(
            "ready",
            lambda: "ready: " in log.read_text(),
            600,
            lambda: log.read_text()[-4000:],
        )
        ready_seconds = time.monotonic() - started
        assert re.search(r"ready: \d+ days loaded", log.read_text()), log.read_text()[-2000:]
        print(f"ready {ready_seconds:.0f} s after the banner ({DAYS} days, 1 cluster)")

        with psycopg.connect(url.group(1)) as conn:
            row = conn.execute(
                "SELECT cluster_id, namespace, workload_uid, node_group FROM allocation"
                " WHERE window_start > now() - interval '2 days' LIMIT 1"
            ).fetchone()
        assert row is not None
        values = {
            "cluster_id": str(row[0]),
            "namespace": row[1],
            "workload_uid": str(row[2]),
            "name": row[3],
        }
        base = f"http://127.0.0.1:{port}"
        empty = []
        for op in authenticated(base):
            if op.path.endswith("/costs/realtime"):
                continue  # asks the clusters' Kubecost now: the simulator answers it, not our data
            response = httpx.request(
                op.method,
                op.url(base, values),
                params=_query(op.path),
                headers=key_headers(op.credential, key.group(1)),
                timeout=120,
            )
            assert response.status_code == 200, (op.path, response.text[:500])
            if op.path.endswith("/export/focus"):
                if len(response.text.splitlines()) < 2:  # a CSV header and at least one row
                    empty.append(op.path)
            elif not _content(response.json()):
                empty.append(op.path)
        assert empty == [], f"answered without content: {empty}"
    finally:
        stop_process(dev, signal.SIGINT, timeout=60)  # Ctrl+C, as its banner says
