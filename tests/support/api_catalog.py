"""The API's operations as the running app describes them in its OpenAPI schema.

Reliability tests iterate over this catalog instead of a list written by hand, so an endpoint
added to the app is fuzzed, authenticated and load-tested without touching the tests. What the
schema does not say (which header carries the key, which scope an operation needs) follows from
the path, by the rules of the two API contracts; an operation that documents 401 but matches no
rule fails the catalog, so a new family of endpoints cannot slip through unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

SCHEMA_PATH = "/schema/openapi.json"

# (path prefix, credential header, scope): the first prefix that matches decides.
_AUTH_RULES = (
    ("/api/v1/finops/", "x-api-key", "finops:read"),
    ("/v1/clusters/{cluster_id}/namespaces/", "bearer", "namespaces:read"),
    ("/v1/clusters/{cluster_id}/workloads/", "bearer", "workloads:read"),
    ("/v1/clusters/{cluster_id}/node-groups/", "bearer", "nodes:read"),
    ("/v1/clusters/", "bearer", "clusters:read"),
    ("/v1/organizations/", "bearer", "organization:read"),
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    statuses: frozenset[int]
    credential: str | None  # "bearer", "x-api-key", or None for the public probes
    scope: str | None

    @property
    def cluster_bound(self) -> bool:
        """Whether the path names one cluster (the cost-trend resource scopes)."""
        return "cluster_id" in self.path_params

    def url(self, base: str, path_values: Mapping[str, str]) -> str:
        path = self.path
        for name in self.path_params:
            path = path.replace("{" + name + "}", path_values[name])
        return base + path


def _auth_of(path: str, statuses: frozenset[int]) -> tuple[str | None, str | None]:
    for prefix, credential, scope in _AUTH_RULES:
        if path.startswith(prefix):
            return credential, scope
    if 401 in statuses:
        raise AssertionError(f"{path} documents 401 but no credential rule covers it")
    return None, None


def operations(schema: Mapping[str, Any]) -> list[Operation]:
    found = []
    for path, item in sorted(schema["paths"].items()):
        for method, spec in sorted(item.items()):
            params = spec.get("parameters", [])
            statuses = frozenset(int(s) for s in spec.get("responses", {}) if s.isdigit())
            credential, scope = _auth_of(path, statuses)
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    operation_id=spec.get("operationId", f"{method} {path}"),
                    path_params=tuple(p["name"] for p in params if p["in"] == "path"),
                    query_params=tuple(p["name"] for p in params if p["in"] == "query"),
                    statuses=statuses,
                    credential=credential,
                    scope=scope,
                )
            )
    return found


def fetch_operations(base: str) -> list[Operation]:
    response = httpx.get(base + SCHEMA_PATH, timeout=30)
    response.raise_for_status()
    return operations(response.json())


def authenticated(base: str) -> list[Operation]:
    return [op for op in fetch_operations(base) if op.credential is not None]


def key_headers(credential: str | None, key: str | None) -> dict[str, str]:
    """The header an operation takes its key in (none when `key` is None)."""
    if key is None or credential is None:
        return {}
    if credential == "bearer":
        return {"Authorization": f"Bearer {key}"}
    return {"X-API-Key": key}


def both_headers(key: str) -> dict[str, str]:
    """A key in both places, so one request shape authenticates against every operation."""
    return {"Authorization": f"Bearer {key}", "X-API-Key": key}


def assert_envelope(response: httpx.Response) -> dict[str, Any]:
    """The error envelope both contracts document; returns its `error` object."""
    body = response.json()
    assert set(body) == {"error", "meta"}, body
    error = body["error"]
    assert isinstance(error["code"], str), body
    assert error["code"], body
    assert isinstance(error["message"], str), body
    assert error["message"], body
    assert isinstance(error["details"], dict), body
    assert body["meta"]["request_id"].startswith("req_"), body
    return dict(error)
