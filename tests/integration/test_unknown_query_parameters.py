"""A misspelled query parameter is refused, on every operation of both API families, instead of
being ignored and answered with the defaults (a 200 for the wrong window). Checked on the running
API over HTTP, every operation read from its own OpenAPI document, with a key that may call it
(the check comes right after authentication); documented parameters are never taken for
unknown ones."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from tests.support.api_catalog import authenticated, key_headers
from tests.support.databases import fresh_database, topic_env
from tests.support.processes import running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

ORG = uuid.uuid4()
CLUSTER = str(uuid.uuid4())
# Any value of the right shape: the parameter check comes before the path is looked up.
PATH_VALUES = defaultdict(lambda: str(uuid.uuid4()), {"cluster_id": CLUSTER, "namespace": "web"})


@dataclass(frozen=True)
class Api:
    base: str
    key: str


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[Api]:
    with fresh_database(services.database_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO organization (id, name) VALUES (%s, 'o')", (ORG,))
            conn.execute(
                "INSERT INTO cluster (id, organization_id, name) VALUES (%s, %s, 'c')",
                (uuid.UUID(CLUSTER), ORG),
            )
            key = create_key(conn, ORG, "all", ALL_SCOPES, clusters=ALL_CLUSTERS)[1]
        env = topic_env(services.kafka_bootstrap, url)
        with running_api(env) as base:
            yield Api(base, key)


def test_every_operation_refuses_an_unknown_parameter_and_names_it(api: Api) -> None:
    operations = authenticated(api.base)
    assert len(operations) >= 20
    for op in operations:
        url = op.url(api.base, PATH_VALUES)
        headers = key_headers(op.credential, api.key)
        response = httpx.request(
            op.method, url, params={"colour": "b"}, headers=headers, timeout=30
        )
        assert response.status_code == 422, (op.path, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"]["parameter"] == "colour"
        assert sorted(error["details"]["accepted"]) == sorted(op.query_params), op.path
        # Credentials are checked first, as for every other validation error.
        assert httpx.request(op.method, url, params={"colour": "b"}, timeout=30).status_code == 401
        # Documented parameters are never taken for unknown ones (whatever their values say).
        known = {name: "x" for name in op.query_params}
        answer = httpx.request(op.method, url, params=known, headers=headers, timeout=30)
        assert "unknown query parameter" not in answer.text, (op.path, answer.text)


@pytest.mark.parametrize(
    ("path", "misspelled", "meant"),
    [
        ("/api/v1/finops/costs/daily", "start_date", "startDate"),
        ("/api/v1/finops/costs/daily", "enddate", "endDate"),
        ("/api/v1/finops/costs/forecast", "month", "months"),
        (f"/v1/clusters/{CLUSTER}/cost-trend", "granularty", "granularity"),
        (f"/v1/clusters/{CLUSTER}/cost-trend", "costMode", "cost_mode"),
    ],
)
def test_a_close_match_is_suggested(api: Api, path: str, misspelled: str, meant: str) -> None:
    credential = "bearer" if path.startswith("/v1/") else "x-api-key"
    headers = key_headers(credential, api.key)
    response = httpx.get(api.base + path, params={misspelled: "1"}, headers=headers, timeout=30)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["did_you_mean"] == meant
    assert f"did you mean {meant!r}" in error["message"]
