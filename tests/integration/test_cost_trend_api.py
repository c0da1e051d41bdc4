"""The cost-trend API over real HTTP, on data the aggregator wrote from events sent through Kafka.

Expected values are computed by hand from the events below, not by calling the code under test:
- cluster C1, workload `frontend` (namespace web, node group general): every hour of 1-3 May 2026
  costs 1.00 with an idle share of 0.25;
- cluster C1, job `etl` (namespace batch, node group gpu): every hour of 2 May costs 2.50 with an
  idle share of 0.50;
- cluster C2 (same organization), workload `api` (namespace web): every hour of 1 May costs 0.10;
- cluster C3 belongs to another organization;
- the nodes of C1 (assets, what node groups bill): `gen-a` (group general) costs 0.25 every hour
  of 1-3 May; `gpu-a` (group gpu) 1.75 every hour of 1-3 May, 1.50 of it GPU; `gpu-b` (gpu) 1.00
  every hour of 2 May; `flex` 0.50 every hour of 1-3 May, in group general until 1 May 12:00 and
  in group gpu from then on. C2 has no node assets: its allocations name node group general, but
  no node bill does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypedDict

import httpx
import psycopg
import pytest

from services.api.identifiers import uuid_to_ulid
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key, revoke_key
from shared.asset_events import AssetCostEvent
from shared.events import AllocationEvent
from shared.ids import workload_uid
from tests.support.api_keys import empty_allow_list_key
from tests.support.databases import fresh_database, topic_env
from tests.support.pipeline import aggregate, allocation, node_asset, produce
from tests.support.processes import running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

ORG_A = uuid.UUID("0000000a-0000-4000-8000-000000000001")
ORG_B = uuid.UUID("0000000b-0000-4000-8000-000000000001")
C1 = uuid.UUID("c1000000-0000-4000-8000-000000000001")
C2 = uuid.UUID("c2000000-0000-4000-8000-000000000002")
C3 = uuid.UUID("c3000000-0000-4000-8000-000000000003")
FRONTEND = workload_uid(C1, "web", "deployment", "frontend")
ETL = workload_uid(C1, "batch", "job", "etl")
API_WL = workload_uid(C2, "web", "deployment", "api")
MAY1 = datetime(2026, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = 86400
T_MAY1 = int(MAY1.timestamp())


def _hours(start: datetime, count: int) -> list[datetime]:
    return [start + i * HOUR for i in range(count)]


def _events() -> list[AllocationEvent]:
    events = []
    for hour in _hours(MAY1, 72):
        events.append(
            allocation(
                organization_id=ORG_A,
                cluster_id=C1,
                window_start=hour,
                window_end=hour + HOUR,
                name="frontend-abc",
                cost=1_000_000,
                idle_share=250_000,
                namespace="web",
                controller_kind="deployment",
                controller="frontend",
                workload_uid=FRONTEND,
                node_group="general",
            )
        )
    for hour in _hours(MAY1 + timedelta(days=1), 24):
        events.append(
            allocation(
                organization_id=ORG_A,
                cluster_id=C1,
                window_start=hour,
                window_end=hour + HOUR,
                name="etl-xyz",
                cost=2_500_000,
                idle_share=500_000,
                namespace="batch",
                controller_kind="job",
                controller="etl",
                workload_uid=ETL,
                node_group="gpu",
            )
        )
    for hour in _hours(MAY1, 24):
        events.append(
            allocation(
                organization_id=ORG_A,
                cluster_id=C2,
                window_start=hour,
                window_end=hour + HOUR,
                name="api-1",
                cost=100_000,
                namespace="web",
                controller_kind="deployment",
                controller="api",
                workload_uid=API_WL,
                node_group="general",
            )
        )
        events.append(
            allocation(
                organization_id=ORG_B,
                cluster_id=C3,
                window_start=hour,
                window_end=hour + HOUR,
                name="other",
                cost=5_000_000,
                namespace="web",
                controller_kind="deployment",
                controller="other",
                workload_uid=workload_uid(C3, "web", "deployment", "other"),
            )
        )
    return events


def _nodes() -> list[AssetCostEvent]:
    assets = []
    for hour in _hours(MAY1, 72):
        noon = MAY1 + timedelta(hours=12)
        for name, group, cost, gpu in (
            ("gen-a", "general", 250_000, 0),
            ("gpu-a", "gpu", 1_750_000, 1_500_000),
            ("flex", "general" if hour < noon else "gpu", 500_000, 0),
        ):
            assets.append(
                node_asset(
                    organization_id=ORG_A,
                    cluster_id=C1,
                    window_start=hour,
                    window_end=hour + HOUR,
                    name=name,
                    node_group=group,
                    total_cost=cost,
                    gpu_cost=gpu,
                )
            )
        if MAY1 + timedelta(days=1) <= hour < MAY1 + timedelta(days=2):
            assets.append(
                node_asset(
                    organization_id=ORG_A,
                    cluster_id=C1,
                    window_start=hour,
                    window_end=hour + HOUR,
                    name="gpu-b",
                    node_group="gpu",
                    total_cost=1_000_000,
                )
            )
    return assets


@dataclass(frozen=True)
class Api:
    base: str
    env: dict[str, str]
    keys: dict[str, str]

    def get(self, path: str, key: str | None = "all", **params: int | str) -> httpx.Response:
        headers = {} if key is None else {"Authorization": f"Bearer {self.keys.get(key, key)}"}
        return httpx.get(self.base + path, params=params, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[Api]:
    with fresh_database(services.database_url) as url:
        env = topic_env(services.kafka_bootstrap, url)
        produce(env, _events(), _nodes())
        aggregate(env)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE organization SET name = 'b' WHERE id = %s", (ORG_B,))
            keys = {
                "all": create_key(conn, ORG_A, "all", ALL_SCOPES, clusters=ALL_CLUSTERS)[1],
                "other_org": create_key(conn, ORG_B, "b", ALL_SCOPES, clusters=ALL_CLUSTERS)[1],
                "no_scope": create_key(
                    conn, ORG_A, "finops", ("finops:read",), clusters=ALL_CLUSTERS
                )[1],
                "only_c2": create_key(conn, ORG_A, "c2", ALL_SCOPES, clusters=(C2,))[1],
                "no_clusters": empty_allow_list_key(conn, ORG_A, "none", ALL_SCOPES),
            }
            revoked_record, keys["revoked"] = create_key(
                conn, ORG_A, "old", ALL_SCOPES, clusters=ALL_CLUSTERS
            )
            assert revoke_key(conn, revoked_record.prefix)
        with running_api(env) as base:
            yield Api(base, env, keys)


def _amounts(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {p["bucket_start"]: p["total_cost"]["amount"] for p in response.json()["data"]["points"]}


class _Span(TypedDict):
    start: int
    end: int


def _window(days: int) -> _Span:
    """Typed by key, so that unpacked into `Api.get` it cannot be taken for the `key`."""
    return {"start": T_MAY1, "end": T_MAY1 + days * DAY}


def _query(days: int) -> dict[str, int]:
    return {"start": T_MAY1, "end": T_MAY1 + days * DAY}


def test_cluster_daily_breakdown_in_both_cost_modes(api: Api) -> None:
    path = f"/v1/clusters/{C1}/cost-trend"
    full = api.get(path, **_window(3), type="breakdown", granularity="daily")
    assert _amounts(full) == {
        "2026-05-01T00:00:00Z": "30.000000",
        "2026-05-02T00:00:00Z": "102.000000",
        "2026-05-03T00:00:00Z": "30.000000",
    }
    body = full.json()
    assert body["data"]["kind"] == "CostTrend"
    assert body["data"]["scope"] == "cluster"
    assert body["data"]["scope_ref"] == {"cluster_id": str(C1)}
    assert body["data"]["start"] == "2026-05-01T00:00:00Z"
    assert body["data"]["end"] == "2026-05-04T00:00:00Z"
    assert body["data"]["excluded_cluster_ids"] == []
    assert body["meta"]["cost_mode"] == "fully_loaded"
    assert body["meta"]["request_id"].startswith("req_")
    assert body["data"]["points"][0]["total_cost"]["currency"] == "USD"
    only = api.get(
        path, **_window(3), type="breakdown", granularity="daily", cost_mode="workload_only"
    )
    assert list(_amounts(only).values()) == ["24.000000", "84.000000", "24.000000"]
    assert only.json()["meta"]["cost_mode"] == "workload_only"


def test_run_rate_projects_each_bucket_to_730_hours(api: Api) -> None:
    daily = api.get(f"/v1/clusters/{C1}/cost-trend", **_window(3), granularity="daily")
    # 30.00 over 24 h -> 1.25/h -> 912.50 a month; 102.00 over 24 h -> 4.25/h -> 3102.50
    assert list(_amounts(daily).values()) == ["912.500000", "3102.500000", "912.500000"]
    assert daily.json()["data"]["type"] == "run_rate"
    hourly = api.get(f"/v1/clusters/{C1}/cost-trend", start=T_MAY1, end=T_MAY1 + 3 * 3600)
    assert hourly.json()["data"]["granularity"] == "hourly"
    assert list(_amounts(hourly).values()) == ["912.500000"] * 3


def test_weekly_and_monthly_buckets_are_anchored_monday_and_first_of_month(api: Api) -> None:
    weekly = api.get(
        f"/v1/clusters/{C1}/cost-trend", **_window(3), type="breakdown", granularity="weekly"
    )
    # 1 May 2026 is a Friday: its week starts Monday 27 April and holds all three days.
    assert _amounts(weekly) == {"2026-04-27T00:00:00Z": "162.000000"}
    assert weekly.json()["data"]["start"] == "2026-04-27T00:00:00Z"
    monthly = api.get(
        f"/v1/clusters/{C1}/cost-trend", **_window(3), type="breakdown", granularity="monthly"
    )
    assert _amounts(monthly) == {"2026-05-01T00:00:00Z": "162.000000"}
    assert monthly.json()["data"]["end"] == "2026-06-01T00:00:00Z"


def test_empty_buckets_are_zero_points(api: Api) -> None:
    start = T_MAY1 - 2 * DAY
    response = api.get(
        f"/v1/clusters/{C1}/cost-trend",
        start=start,
        end=T_MAY1 + DAY,
        type="breakdown",
        granularity="daily",
    )
    assert list(_amounts(response).values()) == ["0.000000", "0.000000", "30.000000"]


def test_auto_granularity_switches_after_14_days(api: Api) -> None:
    path = f"/v1/clusters/{C1}/cost-trend"
    assert (
        api.get(path, start=T_MAY1, end=T_MAY1 + 14 * DAY).json()["data"]["granularity"] == "hourly"
    )
    assert (
        api.get(path, start=T_MAY1, end=T_MAY1 + 14 * DAY + 1).json()["data"]["granularity"]
        == "daily"
    )


def test_namespace_scope_defaults_to_workload_only(api: Api) -> None:
    response = api.get(
        f"/v1/clusters/{C1}/namespaces/batch/cost-trend",
        **_window(3),
        type="breakdown",
        granularity="daily",
    )
    assert list(_amounts(response).values()) == ["0.000000", "60.000000", "0.000000"]
    body = response.json()
    assert body["meta"]["cost_mode"] == "workload_only"
    assert body["data"]["scope_ref"] == {"cluster_id": str(C1), "namespace": "batch"}
    loaded = api.get(
        f"/v1/clusters/{C1}/namespaces/batch/cost-trend",
        **_window(3),
        type="breakdown",
        granularity="daily",
        cost_mode="fully_loaded",
    )
    assert list(_amounts(loaded).values()) == ["0.000000", "72.000000", "0.000000"]


def test_workload_scope_accepts_uuid_and_ulid(api: Api) -> None:
    for spelling in (str(ETL), uuid_to_ulid(ETL)):
        response = api.get(
            f"/v1/clusters/{C1}/workloads/by-uid/{spelling}/cost-trend",
            **_window(3),
            type="breakdown",
            granularity="daily",
        )
        assert list(_amounts(response).values()) == ["0.000000", "60.000000", "0.000000"]
        assert response.json()["data"]["scope_ref"] == {
            "cluster_id": str(C1),
            "workload_uid": str(ETL),
        }
        assert response.json()["meta"]["cost_mode"] == "workload_only"


def test_node_group_scope_is_the_bill_of_its_nodes(api: Api) -> None:
    # gpu: gpu-a 42 a day, gpu-b 24 on 2 May, flex 6 on 1 May (its last 12 hours) and 12 a day
    # after. The pods on the group (etl: 72 on 2 May, idle share included) do not count.
    response = api.get(
        f"/v1/clusters/{C1}/node-groups/gpu/cost-trend",
        **_window(3),
        type="breakdown",
        granularity="daily",
    )
    assert list(_amounts(response).values()) == ["48.000000", "78.000000", "54.000000"]
    body = response.json()
    assert "cost_mode" not in body["meta"]
    assert body["data"]["scope"] == "node-group"
    assert body["data"]["scope_ref"] == {"cluster_id": str(C1), "node_group": "gpu"}
    # general: gen-a 6 a day, and flex for its first 12 hours.
    general = api.get(
        f"/v1/clusters/{C1}/node-groups/general/cost-trend",
        **_window(3),
        type="breakdown",
        granularity="daily",
    )
    assert list(_amounts(general).values()) == ["12.000000", "6.000000", "6.000000"]
    for granularity, anchor in (
        ("weekly", "2026-04-27T00:00:00Z"),
        ("monthly", "2026-05-01T00:00:00Z"),
    ):
        coarse = api.get(
            f"/v1/clusters/{C1}/node-groups/gpu/cost-trend",
            **_window(3),
            type="breakdown",
            granularity=granularity,
        )
        assert _amounts(coarse) == {anchor: "180.000000"}
    # Hourly run rate: the 12:00 hour of 1 May is gpu-a and flex, 2.25 -> 1642.50 a month.
    hourly = api.get(
        f"/v1/clusters/{C1}/node-groups/gpu/cost-trend",
        start=T_MAY1 + 11 * 3600,
        end=T_MAY1 + 13 * 3600,
        granularity="hourly",
    )
    assert list(_amounts(hourly).values()) == ["1277.500000", "1642.500000"]


def test_node_group_scope_refuses_every_cost_mode(api: Api) -> None:
    for value in ("fully_loaded", "workload_only", "bogus", ""):
        rejected = api.get(
            f"/v1/clusters/{C1}/node-groups/gpu/cost-trend", **_window(3), cost_mode=value
        )
        assert rejected.status_code == 422
        assert rejected.json()["error"]["code"] == "INVALID_COST_MODE"


def test_organization_scope_sums_reachable_clusters(api: Api) -> None:
    response = api.get(
        "/v1/organizations/dashboard/cost-trend",
        **_window(1),
        type="breakdown",
        granularity="daily",
    )
    assert _amounts(response) == {"2026-05-01T00:00:00Z": "32.400000"}
    body = response.json()
    assert "scope_ref" not in body["data"]
    assert body["data"]["scope"] == "organization"
    assert body["data"]["excluded_cluster_ids"] == []
    assert body["meta"]["cost_mode"] == "fully_loaded"


def test_organization_scope_with_allow_list_excludes_the_rest(api: Api) -> None:
    response = api.get(
        "/v1/organizations/dashboard/cost-trend",
        key="only_c2",
        **_window(1),
        type="breakdown",
        granularity="daily",
    )
    assert _amounts(response) == {"2026-05-01T00:00:00Z": "2.400000"}
    assert response.json()["data"]["excluded_cluster_ids"] == [str(C1)]


def test_organization_scope_with_empty_allow_list_is_empty_not_forbidden(api: Api) -> None:
    response = api.get("/v1/organizations/dashboard/cost-trend", key="no_clusters", **_window(1))
    assert response.status_code == 200
    assert response.json()["data"]["points"] == []
    assert response.json()["data"]["excluded_cluster_ids"] == []


ERROR_CASES = [
    # (key, path, params, status, code)
    ("all", f"/v1/clusters/{C1}/cost-trend", {"end": T_MAY1}, 400, "BAD_REQUEST"),
    ("all", f"/v1/clusters/{C1}/cost-trend", {"start": T_MAY1}, 400, "BAD_REQUEST"),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {"start": "yesterday", "end": T_MAY1},
        400,
        "BAD_REQUEST",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/workloads/by-uid/not-a-uuid/cost-trend",
        _window(1),
        400,
        "BAD_REQUEST",
    ),
    ("all", "/v1/clusters/not-a-uuid/cost-trend", _window(1), 400, "INVALID_CLUSTER_ID"),
    (None, f"/v1/clusters/{C1}/cost-trend", _window(1), 401, "UNAUTHORIZED"),
    ("cpk_0000_nope", f"/v1/clusters/{C1}/cost-trend", _window(1), 401, "UNAUTHORIZED"),
    ("garbage", f"/v1/clusters/{C1}/cost-trend", _window(1), 401, "UNAUTHORIZED"),
    ("revoked", f"/v1/clusters/{C1}/cost-trend", _window(1), 401, "UNAUTHORIZED"),
    ("no_scope", f"/v1/clusters/{C1}/cost-trend", _window(1), 403, "FORBIDDEN"),
    ("no_scope", "/v1/organizations/dashboard/cost-trend", _window(1), 403, "FORBIDDEN"),
    ("only_c2", f"/v1/clusters/{C1}/cost-trend", _window(1), 403, "CLUSTER_ACCESS_DENIED"),
    (
        "only_c2",
        f"/v1/clusters/{C1}/namespaces/web/cost-trend",
        _window(1),
        403,
        "CLUSTER_ACCESS_DENIED",
    ),
    ("all", f"/v1/clusters/{uuid.uuid4()}/cost-trend", _window(1), 404, "CLUSTER_NOT_FOUND"),
    ("all", f"/v1/clusters/{C3}/cost-trend", _window(1), 404, "CLUSTER_NOT_FOUND"),
    ("other_org", f"/v1/clusters/{C1}/cost-trend", _window(1), 404, "CLUSTER_NOT_FOUND"),
    (
        "all",
        f"/v1/clusters/{C1}/namespaces/nope/cost-trend",
        _window(1),
        404,
        "NAMESPACE_NOT_FOUND",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/workloads/by-uid/{API_WL}/cost-trend",
        _window(1),
        404,
        "WORKLOAD_NOT_FOUND",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/node-groups/nope/cost-trend",
        _window(1),
        404,
        "NODE_GROUP_NOT_FOUND",
    ),
    # Pods of C2 ran on a node group "general", but no node of C2 is billed in it.
    (
        "all",
        f"/v1/clusters/{C2}/node-groups/general/cost-trend",
        _window(1),
        404,
        "NODE_GROUP_NOT_FOUND",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {"start": T_MAY1, "end": T_MAY1},
        422,
        "VALIDATION_ERROR",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {"start": T_MAY1, "end": T_MAY1 + 1900 * DAY},
        422,
        "VALIDATION_ERROR",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {"start": T_MAY1, "end": T_MAY1 + 61 * DAY, "granularity": "hourly"},
        422,
        "VALIDATION_ERROR",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {**_window(1), "type": "breakdown", "granularity": "hourly"},
        422,
        "VALIDATION_ERROR",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {**_window(1), "granularity": "yearly"},
        422,
        "VALIDATION_ERROR",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {**_window(1), "type": "total"},
        422,
        "VALIDATION_ERROR",
    ),
    (
        "all",
        f"/v1/clusters/{C1}/cost-trend",
        {**_window(1), "cost_mode": "both"},
        422,
        "INVALID_COST_MODE",
    ),
]


@pytest.mark.parametrize(("key", "path", "params", "status", "code"), ERROR_CASES)
def test_every_documented_error(
    api: Api, key: str | None, path: str, params: dict[str, int | str], status: int, code: str
) -> None:
    response = api.get(path, key=key, **params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert body["meta"]["request_id"].startswith("req_")


def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    with running_api({**api.env, "COSTPIPE_RATE_LIMIT_PER_MINUTE": "3"}) as base:
        headers = {"Authorization": f"Bearer {api.keys['all']}"}
        url = f"{base}/v1/clusters/{C1}/cost-trend"
        statuses = [httpx.get(url, params=_query(1), headers=headers).status_code for _ in range(4)]
        limited = httpx.get(url, params=_query(1), headers=headers)
    assert statuses[:3] == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1


def test_database_down_is_503_not_500(api: Api) -> None:
    env = {
        **api.env,
        "COSTPIPE_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none",
        "COSTPIPE_API_DATABASE_TIMEOUT_SECONDS": "0.5",
    }
    with running_api(env) as base:
        response = httpx.get(
            f"{base}/v1/clusters/{C1}/cost-trend",
            params=_query(1),
            headers={"Authorization": f"Bearer {api.keys['all']}"},
        )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_unknown_route_uses_the_envelope(api: Api) -> None:
    response = api.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_openapi_documents_the_five_endpoints(api: Api) -> None:
    schema = httpx.get(api.base + "/schema/openapi.json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "getClusterCostTrend",
        "getNamespaceCostTrend",
        "getWorkloadCostTrend",
        "getNodeGroupCostTrend",
        "getOrganizationCostTrend",
    } <= operations


def test_money_strings_have_four_decimals(api: Api) -> None:
    response = api.get(
        f"/v1/clusters/{C2}/cost-trend", **_window(1), type="breakdown", granularity="daily"
    )
    (amount,) = _amounts(response).values()
    assert Decimal(amount) == Decimal("2.4")
    assert amount == "2.400000"


def test_metrics_expose_request_latency_by_route_template(api: Api) -> None:
    assert api.get(f"/v1/clusters/{C1}/cost-trend", **_window(1)).status_code == 200
    text = httpx.get(api.base + "/metrics").text
    for name in ("costpipe_api_request_duration_seconds_bucket", "costpipe_api_requests_total"):
        assert name in text
    assert 'path="/v1/clusters/{cluster_id}/cost-trend"' in text
    assert str(C1) not in text  # raw paths would explode cardinality
