"""Every authenticated operation of the running app x every way a caller can be wrong, with the
exact status and error code each must give (spec/cost-trends-api.md, spec/finops-costs-api.md).

The operations come from the app's own OpenAPI schema, so a new endpoint joins the matrix by
existing. A key of another organization, or one whose allow-list leaves out the cluster asked
about, must never see that cluster: a resource path answers 404 or 403, and a list or total
answers 200 without a trace of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from shared import apikeys
from tests.support.api_catalog import Operation, assert_envelope, authenticated, key_headers
from tests.support.reliability_report import record
from tests.support.seeded_api import ALLOWED, FENCED, SeededApi

pytestmark = pytest.mark.integration

MALFORMED = "not-a-costpipe-key"
UNKNOWN = "cpk_0123456789ab_" + "x" * 43


@dataclass(frozen=True)
class Expected:
    status: int
    code: str | None  # None: a 2xx answer, which carries no error code


@dataclass(frozen=True)
class Case:
    name: str
    headers: Callable[[SeededApi, Operation], dict[str, str]]
    expected: Callable[[Operation], Expected]


def _as(key_name: str) -> Callable[[SeededApi, Operation], dict[str, str]]:
    return lambda api, op: key_headers(op.credential, api.keys[key_name])


def _wrong_header(api: SeededApi, op: Operation) -> dict[str, str]:
    """A valid key in the header the other API family reads."""
    other = "x-api-key" if op.credential == "bearer" else "bearer"
    return key_headers(other, api.keys["valid"])


UNAUTHORIZED = Expected(401, "UNAUTHORIZED")
CASES = [
    Case("valid key", _as("valid"), lambda op: Expected(200, None)),
    Case("no key", lambda api, op: {}, lambda op: UNAUTHORIZED),
    Case("key in the wrong header", _wrong_header, lambda op: UNAUTHORIZED),
    Case(
        "malformed key",
        lambda api, op: key_headers(op.credential, MALFORMED),
        lambda op: UNAUTHORIZED,
    ),
    Case(
        "unknown key", lambda api, op: key_headers(op.credential, UNKNOWN), lambda op: UNAUTHORIZED
    ),
    Case("revoked key", _as("revoked"), lambda op: UNAUTHORIZED),
    Case(
        "key without the scope",
        lambda api, op: key_headers(op.credential, api.without(op.scope or "")),
        lambda op: Expected(403, "FORBIDDEN"),
    ),
    Case(
        "key of another organization",
        _as("other organization"),
        lambda op: Expected(404, "CLUSTER_NOT_FOUND") if op.cluster_bound else Expected(200, None),
    ),
    Case(
        "key with a cluster allow-list",
        _as("allow-list"),
        lambda op: (
            Expected(403, "CLUSTER_ACCESS_DENIED") if op.cluster_bound else Expected(200, None)
        ),
    ),
]


def _call(client: httpx.Client, api: SeededApi, op: Operation, case: Case) -> httpx.Response:
    query = api.query_for(op)
    return client.request(
        op.method, op.url(api.base, api.path_values), params=query, headers=case.headers(api, op)
    )


def _visible(response: httpx.Response) -> str:
    """The answer without `excluded_cluster_ids`, where the cost-trend contract names the
    clusters a key's allow-list left out (their ids, never their costs). Non-JSON answers (the
    FOCUS export's CSV) are their text."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return response.text
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body["data"].pop("excluded_cluster_ids", None)
    return json.dumps(body)


def test_every_operation_and_every_credential(seeded: SeededApi) -> None:
    operations = authenticated(seeded.base)
    assert len(operations) >= 19, [op.path for op in operations]
    failures = []
    with httpx.Client(timeout=30) as client:
        for op in operations:
            for case in CASES:
                response = _call(client, seeded, op, case)
                wanted = case.expected(op)
                got = (response.status_code, None)
                if response.status_code >= 400:
                    got = (response.status_code, assert_envelope(response)["code"])
                if got != (wanted.status, wanted.code):
                    failures.append(
                        f"{op.method} {op.path} / {case.name}: {got} {response.text[:200]}"
                    )
                    continue
                if case.name == "key without the scope":
                    assert response.json()["error"]["details"] == {"required_scope": op.scope}
                if case.name == "key of another organization" and wanted.status == 200:
                    assert str(ALLOWED) not in response.text, (op.path, response.text[:300])
                    assert str(FENCED) not in response.text, (op.path, response.text[:300])
                if case.name == "key with a cluster allow-list" and wanted.status == 200:
                    assert str(FENCED) not in _visible(response), (op.path, response.text[:300])
                if wanted.status == 401:
                    assert response.headers["www-authenticate"] == "Bearer"
    assert not failures, "\n".join(failures)
    record("auth_operations", len(operations))
    record("auth_requests", len(operations) * len(CASES))


def test_keys_are_stored_hashed_and_compared_in_constant_time(
    seeded: SeededApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = seeded.keys["valid"]
    _, prefix, secret = key.split("_")
    with psycopg.connect(seeded.env["COSTPIPE_DATABASE_URL"]) as conn:
        row = conn.execute("SELECT * FROM api_key WHERE prefix = %s", (prefix,)).fetchone()
    assert row is not None
    stored = [value for value in row if isinstance(value, bytes | memoryview)]
    assert [bytes(v) for v in stored] == [hashlib.sha256(secret.encode()).digest()]
    assert not any(secret in str(value) for value in row), "the secret is stored in clear"

    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module apikeys compares with
    assert apikeys.secret_matches(secret, bytes(stored[0]))
    assert not apikeys.secret_matches(secret + "x", bytes(stored[0]))
    assert len(compared) == 2, "secrets must be compared with hmac.compare_digest"
