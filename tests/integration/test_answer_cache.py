"""FinOps answers are kept until the data behind them changes: a repeated request is served from
the kept answer (counted on /metrics), every answer equals what an API keeping nothing computes
from the same data, and a write through the pipeline raises the versions of exactly the clusters
it wrote, so the next answer about them is computed again and shows the new data.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from shared.apikeys import ALL_CLUSTERS, create_key
from shared.events import AllocationEvent
from shared.timewindows import floor_hour
from tests.support.pipeline import aggregate, allocation, node_asset, produce
from tests.support.processes import running_api

pytestmark = pytest.mark.integration

ORG = uuid.UUID("0000000e-0000-4000-8000-00000000ca5e")
C1 = uuid.uuid5(ORG, "east")
C2 = uuid.uuid5(ORG, "west")
HOUR = timedelta(hours=1)
PREFIX = "/api/v1/finops"
# Every FinOps endpoint whose answer is kept, with parameters that make it do real work.
ENDPOINTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/dashboard", {}),
    ("/dashboard/stats", {}),
    ("/dashboard/top-drivers", {}),
    ("/costs/monthly", {}),
    ("/costs/daily", {}),
    ("/costs/services", {}),
    ("/costs/historical", {"groupBy": "namespace"}),
    ("/costs/breakdown", {"groupBy": "namespace"}),
    ("/costs/trends", {"window": "7d"}),
    ("/costs/top-drivers", {}),
    ("/costs/efficiency", {}),
    ("/costs/savings", {}),
    ("/costs/anomalies", {"days": "7"}),
    ("/costs/forecast", {"model": "linear"}),
)


def _events(cluster: uuid.UUID, start: datetime, hours: int, cost: int, name: str) -> list[Any]:
    return [
        allocation(
            organization_id=ORG,
            cluster_id=cluster,
            window_start=start + i * HOUR,
            window_end=start + (i + 1) * HOUR,
            name=f"{name}-{i}",
            cost=cost + i,
            namespace=name,
            controller_kind="deployment",
            controller=name,
            workload_uid=uuid.uuid5(cluster, name),
        )
        for i in range(hours)
    ]


def _versions(url: str) -> dict[uuid.UUID, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT cluster_id, version FROM data_version").fetchall()
    return {row[0]: int(row[1]) for row in rows}


def _kept(base: str) -> dict[str, int]:
    """Answers served from the kept ones so far, per endpoint, from the API's /metrics."""
    text = httpx.get(base + "/metrics", timeout=10).text
    found = re.findall(
        r'costpipe_api_finops_answers_total\{endpoint="([^"]+)",outcome="kept"\} (\S+)', text
    )
    return {endpoint: int(float(value)) for endpoint, value in found}


def _answers(base: str, key: str) -> dict[str, Any]:
    answers = {}
    for path, params in ENDPOINTS:
        response = httpx.get(
            base + PREFIX + path, params=params, headers={"X-API-Key": key}, timeout=60
        )
        assert response.status_code == 200, (path, response.text[:500])
        answers[path] = json.loads(response.text, parse_float=Decimal)
    return answers


@pytest.fixture
def two_apis(pipeline_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """An API that keeps answers (the default) and one that keeps none, on the same data."""
    with (
        running_api(pipeline_env) as keeping,
        running_api({**pipeline_env, "COSTPIPE_API_ANSWER_CACHE_ENTRIES": "0"}) as computing,
    ):
        yield keeping, computing


def _same_hour_answers(keeping: str, computing: str, key: str) -> tuple[Any, Any, Any]:
    """The keeping API twice and the computing one, asked within one clock hour (answers are
    a function of the hour: a test straddling an hour boundary asks again)."""
    for _ in range(2):
        hour = floor_hour(datetime.now(UTC))
        first = _answers(keeping, key)
        again = _answers(keeping, key)
        computed = _answers(computing, key)
        if floor_hour(datetime.now(UTC)) == hour:
            return first, again, computed
    raise AssertionError("two hour boundaries in one test")


def test_answers_are_kept_until_their_clusters_data_changes(
    pipeline_env: dict[str, str], database_url: str, two_apis: tuple[str, str]
) -> None:
    keeping, computing = two_apis
    now = floor_hour(datetime.now(UTC))
    start = now - 20 * 24 * HOUR  # enough complete days for a forecast
    events: list[AllocationEvent] = [
        *_events(C1, start, 20 * 24, 1_000_000, "shop"),
        *_events(C2, start, 20 * 24, 2_000_000, "search"),
    ]
    produce(pipeline_env, events)
    aggregate(pipeline_env)
    with psycopg.connect(database_url, autocommit=True) as conn:
        key = create_key(conn, ORG, "all", ("finops:read",), clusters=ALL_CLUSTERS)[1]
        only_c2 = create_key(conn, ORG, "west", ("finops:read",), clusters=(C2,))[1]
    written = _versions(database_url)
    assert set(written) == {C1, C2}

    first, again, computed = _same_hour_answers(keeping, computing, key)
    assert again == first
    assert computed == first  # keeping changes no answer
    kept = _kept(keeping)
    assert all(kept.get(path.lstrip("/"), 0) >= 1 for path, _ in ENDPOINTS), kept
    assert _kept(computing) == {}
    west_hour = floor_hour(datetime.now(UTC))
    west = _answers(keeping, only_c2)

    # data-health keeps only what the rollups hold (its coverage); watermarks, gaps and the
    # pipeline's lag are read on every request. Its clusters read the same either way.
    health = [
        httpx.get(base + PREFIX + "/data-health", headers={"X-API-Key": key}, timeout=60).json()
        for base in (keeping, keeping, computing)
    ]
    assert health[0]["clusters"] == health[1]["clusters"] == health[2]["clusters"]
    assert health[0]["clusters"][0]["covered_hours"] > 0
    assert _kept(keeping).get("data-health", 0) >= 1

    # New cost on C1 only (a workload of another namespace, the last day's hours).
    produce(pipeline_env, _events(C1, now - 24 * HOUR, 24, 5_000_000, "billing"))
    aggregate(pipeline_env)
    after = _versions(database_url)
    assert after[C1] > written[C1]
    assert after[C2] == written[C2]

    changed, changed_again, recomputed = _same_hour_answers(keeping, computing, key)
    assert changed == recomputed == changed_again
    assert changed["/dashboard/stats"]["total_cost"] > first["/dashboard/stats"]["total_cost"]
    assert changed["/costs/breakdown"] != first["/costs/breakdown"]
    # A key that sees only C2 keeps its answers: nothing it covers changed.
    kept_before = _kept(keeping)
    west_again = _answers(keeping, only_c2)
    kept_after = _kept(keeping)
    if floor_hour(datetime.now(UTC)) == west_hour:  # else the new hour is a new question
        assert west_again == west
        assert all(
            kept_after[path.lstrip("/")] > kept_before[path.lstrip("/")] for path, _ in ENDPOINTS
        )

    # A node bill written for C2 changes C2's version (asset writes count as data too).
    asset = node_asset(
        organization_id=ORG,
        cluster_id=C2,
        window_start=now - HOUR,
        window_end=now,
        name="node-1",
        node_group="general",
        total_cost=3_000_000,
    )
    produce(pipeline_env, [], [asset])
    aggregate(pipeline_env)
    assert _versions(database_url)[C2] > after[C2]
