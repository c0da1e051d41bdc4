"""Every API request leaves one JSON log line carrying the id the client got back, so a quoted
`X-Request-ID` leads straight to the server's side of the story, errors included."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg

from tests.support.processes import create_key, running_api

ORGANIZATION = "0000000a-0000-4000-8000-0000000000a1"


def _access_lines(log: Path) -> dict[str, dict[str, object]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {
        str(entry["request_id"]): entry
        for entry in lines
        if entry.get("logger") == "costpipe.api.access"
    }


def test_access_lines_carry_the_request_id_status_and_duration(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pipeline_env, "COSTPIPE_LOG_FORMAT": "json", "COSTPIPE_LOG_LEVEL": "INFO"}
    with psycopg.connect(env["COSTPIPE_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("INSERT INTO organization (id, name) VALUES (%s, 'logs')", (ORGANIZATION,))
    key = create_key(env, ORGANIZATION, "finops:read", "--all-clusters")
    log = tmp_path / "api.log"
    with running_api(env, log=log) as base:
        ok = httpx.get(f"{base}/api/v1/finops/costs/monthly", headers={"X-API-Key": key})
        refused = httpx.get(f"{base}/api/v1/finops/costs/monthly")
        chosen = httpx.get(
            f"{base}/api/v1/finops/costs/monthly",
            headers={"X-API-Key": key, "X-Request-ID": "client-chosen-42"},
        )
    assert ok.status_code == 200
    assert refused.status_code == 401
    lines = _access_lines(log)
    for response in (ok, refused, chosen):
        request_id = response.headers["X-Request-ID"]
        entry = lines[request_id]
        assert entry["status"] == response.status_code
        assert entry["message"] == f"GET /api/v1/finops/costs/monthly {response.status_code}"
        assert isinstance(entry["duration_ms"], float)
        assert entry["level"] == "INFO"
    assert chosen.headers["X-Request-ID"] == "client-chosen-42"


def test_an_unknown_path_and_a_bad_caller_id_still_get_an_id(
    pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pipeline_env, "COSTPIPE_LOG_FORMAT": "json"}
    log = tmp_path / "api.log"
    with running_api(env, log=log) as base:
        missing = httpx.get(f"{base}/api/v1/finops/no-such-thing")
        odd = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "a b<script>"})
    assert missing.status_code == 404
    assert odd.headers["X-Request-ID"].startswith("req_")
    lines = _access_lines(log)
    assert lines[odd.headers["X-Request-ID"]]["status"] == 200
    assert lines[missing.headers["X-Request-ID"]]["status"] == 404
