"""data-health over real HTTP: coverage and gaps from data the aggregator wrote, the collector's
recorded gap reason, and the consumer lag read from the broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from shared.apikeys import ALL_CLUSTERS, create_key
from tests.support.pipeline import aggregate, allocation, produce
from tests.support.processes import running_api

pytestmark = pytest.mark.integration

ORG = uuid.UUID("0000000a-0000-4000-8000-00000000dada")
FULL = uuid.uuid5(ORG, "full")
HOLEY = uuid.uuid5(ORG, "holey")
HOUR = timedelta(hours=1)


def test_coverage_gaps_and_lag(pipeline_env: dict[str, str]) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=24)
    hours = [start + i * HOUR for i in range(24)]
    missing = set(hours[5:8]) | {hours[20]}
    events = [
        allocation(
            organization_id=ORG,
            cluster_id=cluster,
            window_start=h,
            window_end=h + HOUR,
            name="w",
            cost=1_000_000,
            namespace="ns",
        )
        for cluster in (FULL, HOLEY)
        for h in hours
        if cluster == FULL or h not in missing
    ]
    produce(pipeline_env, events)
    aggregate(pipeline_env)
    with psycopg.connect(pipeline_env["COSTPIPE_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason, attempts)"
            " VALUES (%s, %s, %s, 'HTTP 500', 4)",
            (HOLEY, hours[5], hours[8]),
        )
        conn.execute("UPDATE cluster SET name = 'holey' WHERE id = %s", (HOLEY,))
        key = create_key(conn, ORG, "health", ("finops:read",), clusters=ALL_CLUSTERS)[1]
        other = create_key(conn, ORG, "none", ("clusters:read",), clusters=ALL_CLUSTERS)[1]
    with running_api(pipeline_env) as api:
        response = httpx.get(
            f"{api}/api/v1/finops/data-health",
            params={"window": "24h"},
            headers={"X-API-Key": key},
            timeout=20,
        )
        forbidden = httpx.get(f"{api}/api/v1/finops/data-health", headers={"X-API-Key": other})
        bad = httpx.get(
            f"{api}/api/v1/finops/data-health", params={"window": "7x"}, headers={"X-API-Key": key}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["window"] == {
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hours": 24,
    }
    by_id = {c["cluster_id"]: c for c in body["clusters"]}
    full, holey = by_id[str(FULL)], by_id[str(HOLEY)]
    assert full["covered_hours"] == 24
    assert full["coverage_percent"] == 100
    assert full["gaps"] == []
    assert holey["covered_hours"] == 20
    assert holey["coverage_percent"] == pytest.approx(83.33)
    assert holey["open_collector_gaps"] == 1
    assert [(g["hours"], g["reason"], g["attempts"]) for g in holey["gaps"]] == [
        (3, "HTTP 500", 4),
        (1, None, None),
    ]
    assert holey["gaps"][0]["start"] == hours[5].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert holey["last_ingested_window_end"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["coverage_percent"] == pytest.approx(91.67)
    pipeline = body["pipeline"]
    assert pipeline["status"] == "ok"
    assert pipeline["consumer_lag"] == 0  # the aggregator committed everything it read
    assert sum(p["end_offset"] for p in pipeline["partitions"]) == len(events)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "FORBIDDEN"
    assert bad.status_code == 422


def test_lag_is_reported_unavailable_without_a_broker(pipeline_env: dict[str, str]) -> None:
    with psycopg.connect(pipeline_env["COSTPIPE_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("INSERT INTO organization (id, name) VALUES (%s, 'o')", (ORG,))
        key = create_key(conn, ORG, "health", ("finops:read",), clusters=ALL_CLUSTERS)[1]
    env = {**pipeline_env, "COSTPIPE_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    with running_api(env) as api:
        response = httpx.get(
            f"{api}/api/v1/finops/data-health", headers={"X-API-Key": key}, timeout=20
        )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "no_data"
    assert body["pipeline"]["status"] == "unavailable"
    assert body["pipeline"]["consumer_lag"] is None
