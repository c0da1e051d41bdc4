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
    (open_gap,) = holey["gap_history"]
    assert (open_gap["status"], open_gap["reason"], open_gap["attempts"]) == ("open", "HTTP 500", 4)
    assert open_gap["window"] == {"start": z(hours[5]), "end": z(hours[8]), "hours": 3}
    assert (open_gap["healed_at"], open_gap["healed_by"]) == (None, None)
    assert full["gap_history"] == []
    assert body["coverage_percent"] == pytest.approx(91.67)
    pipeline = body["pipeline"]
    assert pipeline["status"] == "ok"
    assert pipeline["consumer_lag"] == 0  # the aggregator committed everything it read
    assert sum(p["end_offset"] for p in pipeline["partitions"]) == len(events)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "FORBIDDEN"
    assert bad.status_code == 422


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_gap_history_keeps_thirty_days_of_occurrences(pipeline_env: dict[str, str]) -> None:
    """A window that failed, healed and failed again is listed twice, newest first, with the
    heal time and the fetch that healed it; a gap healed more than 30 days ago is not listed,
    one opened earlier but healed within the 30 days is."""
    now = datetime.now(UTC).replace(microsecond=0)
    window = now.replace(minute=0, second=0) - timedelta(days=3)
    day = timedelta(days=1)
    with psycopg.connect(pipeline_env["COSTPIPE_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("INSERT INTO organization (id, name) VALUES (%s, 'o')", (ORG,))
        conn.execute(
            "INSERT INTO cluster (id, organization_id, name) VALUES (%s, %s, 'holey'),"
            " (%s, %s, 'full')",
            (HOLEY, ORG, FULL, ORG),
        )
        gaps = [  # window start, hours, reason, attempts, opened, last failed, healed, fetch
            (window, 6, "HTTP 503", 5, now - 3 * day, now - 2.5 * day, now - 2 * day, "f-heal"),
            (window, 6, "timeout", 2, now - day, now - day, None, None),
            (window - 40 * day, 24, "HTTP 500", 9, now - 40 * day, now - 39 * day,
             now - 31 * day, "f-old"),
            (window - 40 * day + 24 * HOUR, 24, "HTTP 502", 7, now - 40 * day, now - 11 * day,
             now - 10 * day, "f-late"),
        ]  # fmt: skip
        for start, length, reason, attempts, opened, failed, healed, fetch in gaps:
            conn.execute(
                "INSERT INTO collector_gap (cluster_id, window_start, window_end, reason,"
                " attempts, opened_at, recorded_at, resolved_at, healed_by_start, healed_by_end,"
                " healed_by_fetch) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    HOLEY,
                    start,
                    start + length * HOUR,
                    reason,
                    attempts,
                    opened,
                    failed,
                    healed,
                    None if fetch is None else start - HOUR,
                    None if fetch is None else start + length * HOUR,
                    fetch,
                ),
            )
        key = create_key(conn, ORG, "health", ("finops:read",), clusters=ALL_CLUSTERS)[1]
    with running_api(pipeline_env) as api:
        response = httpx.get(
            f"{api}/api/v1/finops/data-health", headers={"X-API-Key": key}, timeout=20
        )
    assert response.status_code == 200, response.text
    by_id = {c["cluster_id"]: c for c in response.json()["clusters"]}
    holey, full = by_id[str(HOLEY)], by_id[str(FULL)]
    assert full["gap_history"] == []
    assert holey["open_collector_gaps"] == 1  # the current failure, as before
    recurring, healed, late = holey["gap_history"]
    assert recurring == {
        "status": "open",
        "window": {"start": z(window), "end": z(window + 6 * HOUR), "hours": 6},
        "reason": "timeout",
        "attempts": 2,
        "opened_at": z(now - day),
        "last_failed_at": z(now - day),
        "healed_at": None,
        "healed_by": None,
    }
    assert healed == {
        "status": "healed",
        "window": {"start": z(window), "end": z(window + 6 * HOUR), "hours": 6},
        "reason": "HTTP 503",
        "attempts": 5,
        "opened_at": z(now - 3 * day),
        "last_failed_at": z(now - 2.5 * day),
        "healed_at": z(now - 2 * day),
        "healed_by": {
            "window": {"start": z(window - HOUR), "end": z(window + 6 * HOUR), "hours": 7},
            "fetch_id": "f-heal",
        },
    }
    assert (late["reason"], late["opened_at"], late["healed_at"]) == (
        "HTTP 502",
        z(now - 40 * day),
        z(now - 10 * day),
    )
    assert late["healed_by"]["fetch_id"] == "f-late"


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
