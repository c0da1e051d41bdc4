"""Bad input to every operation of the running app: generated from its own OpenAPI schema, and a
table of hostile values for every parameter, each with the 4xx the contracts document.

Two halves. Schemathesis generates requests from the schema (valid and schema-violating ones,
derandomized, a fixed number per operation) and checks every answer: never a 5xx, never a status
or body the schema does not document. The table then sends, to every query and path parameter of
every operation, values a hostile or careless client sends: huge, negative, non-numeric, unknown
enum words, SQL metacharacters, path identifiers of the wrong shape. Parameters the table knows
get their exact status and code; any other parameter (a new endpoint's) still must answer a
documented status in the error envelope, and never a 5xx.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Err, Ok
from schemathesis.errors import InvalidSchema

from tests.support.api_catalog import (
    SCHEMA_PATH,
    Operation,
    assert_envelope,
    both_headers,
    fetch_operations,
)
from tests.support.reliability_report import record
from tests.support.seeded_api import SeededApi

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 10
TRIED: Counter[str] = Counter()  # inputs sent, by half; docs/reliability.md quotes the totals

SQL = ("' OR '1'='1", "'; DROP TABLE cost_hourly; --", '" UNION SELECT secret_hash FROM api_key --')
HUGE = "9" * 40
BAD_REQUEST = (400, "BAD_REQUEST")
INVALID = (422, "VALIDATION_ERROR")
# parameter -> [(value, (status, code))]; 200 means the value is well-formed text taken literally.
NUMERIC = {"abc": BAD_REQUEST, "1.5": BAD_REQUEST, "-5": INVALID, HUGE: INVALID}
WINDOW = {"7x": INVALID, "-7d": BAD_REQUEST, "0d": INVALID, "999999999d": INVALID}
DATE = {"yesterday": BAD_REQUEST, "1999-12-31": INVALID, "2024-13-45": BAD_REQUEST}
ENUM = {"no_such_value": INVALID, "'; DROP TABLE allocation; --": INVALID}
EXPECTED: dict[str, dict[str, tuple[int, str]]] = {
    **dict.fromkeys(("limit", "months", "year", "days"), NUMERIC),
    "threshold": {"abc": BAD_REQUEST, "-5": INVALID, HUGE: INVALID},
    "start": {"abc": BAD_REQUEST, "1.5": BAD_REQUEST, "-5": INVALID, HUGE: INVALID},
    "end": {"abc": BAD_REQUEST, "1.5": BAD_REQUEST, "-5": INVALID, HUGE: INVALID},
    **dict.fromkeys(("window", "period", "compareWindow"), WINDOW),
    **dict.fromkeys(("startDate", "endDate"), DATE),
    **dict.fromkeys(("type", "granularity", "resourceType", "groupBy", "model"), ENUM),
    "cost_mode": {"no_such_value": (422, "INVALID_COST_MODE")},
    **{name: {v: (200, "") for v in SQL} for name in ("orgId", "userId", "namespace")},
}
PATH_VALUES = {
    "cluster_id": {"not-a-uuid": (400, "INVALID_CLUSTER_ID"), SQL[0]: (400, "INVALID_CLUSTER_ID")},
    "workload_uid": {"not-a-uuid": BAD_REQUEST, SQL[0]: BAD_REQUEST},
    "namespace": {SQL[1]: (404, "NAMESPACE_NOT_FOUND"), "x" * 300: (404, "NAMESPACE_NOT_FOUND")},
    "name": {SQL[1]: (404, "NODE_GROUP_NOT_FOUND"), "x" * 300: (404, "NODE_GROUP_NOT_FOUND")},
}
# Sent to every parameter, known or not: no answer may be a 5xx or leave the envelope.
ANY_VALUES = (*SQL, HUGE, "-1", "abc", "%00", "\u202e", "\U0001f4a5" * 50, " ", "x" * 5000)


def _fuzz(strategy: SearchStrategy[Case[Any]], headers: dict[str, str]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Any]) -> None:
        TRIED["generated"] += 1
        # Every parameter is text in the schema, and most text is not a valid window or date:
        # the server rightly refuses data the schema allows, so "schema-valid means accepted"
        # does not apply; every other check does (no 5xx, documented status, body and headers).
        case.call_and_validate(
            headers=headers, excluded_checks=[positive_data_acceptance], timeout=30
        )

    run()


SchemaOperation = APIOperation[Any, Any, Any, Any]


def _loaded(result: Ok[SchemaOperation] | Err[InvalidSchema]) -> SchemaOperation:
    assert isinstance(result, Ok), f"the app's OpenAPI document is invalid: {result.err()}"
    return result.ok()


def test_generated_requests_get_documented_answers(seeded: SeededApi) -> None:
    """Schemathesis drives Hypothesis over each operation: schema-valid requests, schema-violating
    ones, and (where the path names things) requests on paths that exist."""
    schema = schemathesis.openapi.from_url(seeded.base + SCHEMA_PATH)
    headers = both_headers(seeded.keys["valid"])
    operations = [_loaded(result) for result in schema.get_all_operations()]
    assert len(operations) >= 19
    for operation in operations:
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        if "{" in operation.path:
            path = {k: v for k, v in seeded.path_values.items() if "{" + k + "}" in operation.path}
            strategies.append(operation.as_strategy(path_parameters=path))
        for strategy in strategies:
            try:
                _fuzz(strategy, headers)
            except Unsatisfiable:
                continue  # no schema-violating request exists for an operation without inputs
    record("fuzz_operations", len(operations))
    record("fuzz_generated_requests", TRIED["generated"])


def _check(
    client: httpx.Client,
    op: Operation,
    seeded: SeededApi,
    where: str,
    name: str,
    value: str,
    expected: tuple[int, str] | None,
) -> str | None:
    """Send one hostile value; a description of what went wrong, or None."""
    query = seeded.query_for(op)
    path = dict(seeded.path_values)
    if where == "path":
        path[name] = value
    else:
        query[name] = value
    TRIED["table"] += 1
    response = client.request(
        op.method,
        op.url(seeded.base, path),
        params=query,
        headers=both_headers(seeded.keys["valid"]),
    )
    status = response.status_code
    label = f"{op.method} {op.path} {where} {name}={value[:40]!r}"
    if status >= 500 or status not in op.statuses:
        return f"{label}: undocumented {status} {response.text[:200]}"
    code = assert_envelope(response)["code"] if status >= 400 else ""
    if expected is not None and (status, code) != expected:
        return f"{label}: got {(status, code)}, documented {expected}"
    return None


def test_hostile_values_in_every_parameter(seeded: SeededApi) -> None:
    operations = [op for op in fetch_operations(seeded.base) if op.credential is not None]
    failures = []
    with httpx.Client(timeout=30) as client:
        for op in operations:
            for where, names, table in (
                ("query", op.query_params, EXPECTED),
                ("path", op.path_params, PATH_VALUES),
            ):
                for name in names:
                    known = table.get(name, {})
                    values = {**dict.fromkeys(ANY_VALUES), **known}
                    for value, expected in values.items():
                        failure = _check(client, op, seeded, where, name, value, expected)
                        if failure:
                            failures.append(failure)
        # The SQL in the values above was taken as text: the tables are still there and whole.
        check = client.get(
            seeded.base + "/api/v1/finops/costs/breakdown",
            params={"window": "3d"},
            headers={"X-API-Key": seeded.keys["valid"]},
        )
    assert check.status_code == 200, check.text
    assert not failures, f"{len(failures)} of {TRIED['table']}:\n" + "\n".join(failures)
    record("hostile_values_sent", TRIED["table"])
