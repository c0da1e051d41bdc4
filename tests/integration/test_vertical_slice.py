"""The vertical slice: recorded OpenCost response -> collector -> Kafka -> aggregator ->
TimescaleDB rollups -> API, with the total compared exactly against the file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import psycopg
import pytest

from tests.support.processes import create_key, run_costpipe, running_api
from tests.support.replay import OPENCOST, opencost_routes, replay_server

pytestmark = pytest.mark.integration

CLUSTER_ID = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
ORGANIZATION_ID = "00000000-0000-4000-8000-0000000000aa"


def _file_total() -> Decimal:
    document = json.loads(
        (OPENCOST / "allocation-7d-by-namespace.json").read_text(), parse_float=Decimal
    )
    return sum(
        (alloc["totalCost"] for step in document["data"] for alloc in step.values()), Decimal(0)
    )


def test_recorded_opencost_total_reaches_the_api_exactly(pipeline_env: dict[str, str]) -> None:
    with replay_server(opencost_routes()) as kubecost:
        env = {
            **pipeline_env,
            "COSTPIPE_KUBECOST_URL": kubecost.base_url,
            "COSTPIPE_KUBECOST_ALLOCATION_PATH": "/allocation",
            "COSTPIPE_KUBECOST_ASSETS_PATH": "/assets",
            "COSTPIPE_CLUSTER_ID": CLUSTER_ID,
            "COSTPIPE_CLUSTER_NAME": "default-cluster",
            "COSTPIPE_ORGANIZATION_ID": ORGANIZATION_ID,
        }
        run_costpipe(
            ["collector", "--from", "2023-07-12T00:00:00Z", "--to", "2023-07-13T00:00:00Z"], env
        )
        assert any(r.startswith("/allocation?") for r in kubecost.requests)
    run_costpipe(["aggregator", "--exit-when-idle", "3"], env)

    expected = _file_total()
    with psycopg.connect(pipeline_env["COSTPIPE_DATABASE_URL"]) as conn:
        raw = conn.execute("SELECT count(*), sum(total_cost) FROM allocation").fetchone()
        daily = conn.execute("SELECT sum(cost + idle_share) FROM cost_daily").fetchone()
        hourly = conn.execute("SELECT sum(cost + idle_share) FROM cost_hourly").fetchone()
    assert raw is not None
    assert daily is not None
    assert hourly is not None
    assert raw[0] == 3
    assert Decimal(raw[1]) / 1_000_000 == expected
    assert Decimal(daily[0]) / 1_000_000 == expected
    assert Decimal(hourly[0]) / 1_000_000 == expected

    key = create_key(env, ORGANIZATION_ID, "clusters:read", "--all-clusters")
    start = int(datetime(2023, 7, 10, tzinfo=UTC).timestamp())
    end = int(datetime(2023, 7, 20, tzinfo=UTC).timestamp())
    with running_api(env) as api:
        response = httpx.get(
            f"{api}/v1/clusters/{CLUSTER_ID}/cost-trend",
            params={"start": start, "end": end, "type": "breakdown", "granularity": "daily"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    points = body["data"]["points"]
    assert len(points) == 10
    total = sum((Decimal(p["total_cost"]["amount"]) for p in points), Decimal(0))
    cent = Decimal("0.01")
    assert total.quantize(cent) == expected.quantize(cent)
    assert body["meta"]["cost_mode"] == "fully_loaded"
    by_day = {p["bucket_start"]: Decimal(p["total_cost"]["amount"]) for p in points}
    assert by_day["2023-07-12T00:00:00Z"] == expected.quantize(Decimal("0.000001"))
