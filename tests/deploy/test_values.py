"""values.schema.json rejects typos and wrong types (in Helm and in a plain JSON Schema
validator), matches values.yaml key for key, and the chart README documents every value."""

from __future__ import annotations

import copy
import re
from typing import Any

import helm_python
import jsonschema
import pytest

from shared.settings import AggregatorSettings, SettingsError
from tests.deploy.conftest import CUSTOM_VALUES
from tests.deploy.support import (
    CHART,
    chart_schema,
    chart_values,
    render,
    resolve_ref,
    values_rows,
    values_table,
)

VALIDATOR = jsonschema.Draft7Validator(chart_schema())


def _merged(overrides: dict[str, Any]) -> dict[str, Any]:
    """values.yaml with `overrides` merged in, as Helm merges user values over defaults."""

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(base)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    return merge(chart_values(), overrides)


def test_schema_is_a_valid_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(chart_schema())


@pytest.mark.parametrize("overrides", [{}, CUSTOM_VALUES], ids=["default", "custom"])
def test_values_files_pass_the_schema(overrides: dict[str, Any]) -> None:
    VALIDATOR.validate(_merged(overrides))
    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema(overrides or None)


BAD_VALUES = [
    pytest.param({"colector": {"replicas": 1}}, "colector", id="typo-top-level-key"),
    pytest.param(
        {"api": {"autoscalling": {"enabled": False}}}, "autoscalling", id="typo-nested-key"
    ),
    pytest.param(
        {"database": {"existingSecretName": "x"}}, "existingSecretName", id="typo-database-key"
    ),
    pytest.param({"api": {"replicas": "3"}}, "replicas", id="string-for-integer"),
    pytest.param({"serviceMonitor": {"enabled": "yes"}}, "enabled", id="string-for-boolean"),
    pytest.param({"collector": {"resources": []}}, "resources", id="list-for-object"),
    pytest.param({"collector": {"replicas": 2}}, "replicas", id="two-collectors"),
    pytest.param({"kafka": {"bootstrap": "kafka"}}, "bootstrap", id="bootstrap-without-port"),
    pytest.param({"database": {"url": "mysql://db/x"}}, "url", id="not-a-postgresql-url"),
    pytest.param({"database": {"url": "", "existingSecret": ""}}, "database", id="no-database"),
    pytest.param({"database": {"rollupMode": "fast"}}, "rollupMode", id="unknown-rollup-mode"),
    pytest.param(
        {"api": {"probes": {"liveness": {"periodSeconds": 0}}}}, "periodSeconds", id="zero-period"
    ),
    pytest.param({"serviceMonitor": {"interval": "30 seconds"}}, "interval", id="bad-duration"),
    pytest.param({"extraEnv": [{"value": "x"}]}, "name", id="env-without-name"),
    pytest.param(
        {"aggregator": {"sessionTimeoutMs": 999}}, "sessionTimeoutMs", id="session-under-1s"
    ),
    pytest.param(
        {"aggregator": {"sessionTimeoutMs": "30000"}}, "sessionTimeoutMs", id="session-as-string"
    ),
    pytest.param(
        {"aggregator": {"sessionTimeoutMs": 30000.5}}, "sessionTimeoutMs", id="session-fraction"
    ),
    pytest.param(
        {"aggregator": {"assignmentGraceSeconds": 0.5}},
        "assignmentGraceSeconds",
        id="grace-under-1s",
    ),
    pytest.param(
        {"aggregator": {"assignmentGraceSeconds": "60"}},
        "assignmentGraceSeconds",
        id="grace-as-string",
    ),
    pytest.param(
        {"aggregator": {"terminationGracePeriodSeconds": 5}},
        "terminationGracePeriodSeconds",
        id="aggregator-killed-before-it-exits",
    ),
]


@pytest.mark.parametrize(("overrides", "where"), BAD_VALUES)
def test_schema_rejects_bad_values(overrides: dict[str, Any], where: str) -> None:
    errors = list(VALIDATOR.iter_errors(_merged(overrides)))
    assert errors, f"jsonschema accepted {overrides}"
    assert any(where in str(e.path) + e.message for e in errors), errors
    # Helm runs the same schema before rendering: the install would stop here.
    with pytest.raises(helm_python.HelmValuesError, match=where):
        render(overrides)


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("sessionTimeoutMs", "COSTPIPE_KAFKA_SESSION_TIMEOUT_MS"),
        ("assignmentGraceSeconds", "COSTPIPE_ASSIGNMENT_GRACE_SECONDS"),
    ],
)
def test_aggregator_timing_minimums_are_the_aggregators(key: str, variable: str) -> None:
    """The schema refuses exactly what the aggregator would refuse at start: an install fails
    at `helm install` instead of with pods in CrashLoopBackOff."""
    node = chart_schema()["properties"]["aggregator"]["properties"][key]
    minimum = node["minimum"]
    VALIDATOR.validate(_merged({"aggregator": {key: minimum}}))
    AggregatorSettings.from_env({variable: str(minimum)})
    below = minimum - 1 if node["type"] == "integer" else minimum - 0.5
    assert list(VALIDATOR.iter_errors(_merged({"aggregator": {key: below}})))
    with pytest.raises(SettingsError, match=variable):
        AggregatorSettings.from_env({variable: str(below)})


# Maps shaped like a Kubernetes type: the schema lists the type's optional fields, values.yaml
# sets only some of them.
KUBERNETES_SHAPED = {
    "podSecurityContext",
    "containerSecurityContext",
    "resources",
    "capabilities",
    "seccompProfile",
}


def test_schema_and_values_name_the_same_keys() -> None:
    """Every default is described by the schema and every chart setting the schema describes
    has a default, so a key added to one file and not the other fails here."""
    schema = chart_schema()
    mismatches: list[str] = []

    def walk(path: str, values: Any, node: dict[str, Any]) -> None:
        node = resolve_ref(schema, node)
        if not isinstance(values, dict) or "properties" not in node:
            return
        described = set(node["properties"]) - {"global"}
        kubernetes_shaped = path.rsplit(".", 1)[-1] in KUBERNETES_SHAPED
        if set(values) - described or (not kubernetes_shaped and described - set(values)):
            mismatches.append(f"{path or '.'}: {sorted(set(values) ^ described)}")
        for key, value in values.items():
            if key in node["properties"]:
                walk(f"{path}.{key}", value, node["properties"][key])

    walk("", chart_values(), schema)
    assert mismatches == []


def test_every_object_in_the_schema_is_closed() -> None:
    """A typo anywhere under a documented map is caught: each map that lists its properties
    refuses others."""
    schema = chart_schema()
    open_maps: list[str] = []

    def walk(path: str, node: dict[str, Any]) -> None:
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                open_maps.append(path or ".")
            for key, child in node["properties"].items():
                walk(f"{path}.{key}", resolve_ref(schema, child))

    walk("", schema)
    assert open_maps == []


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"<!-- values-table:start -->\n(.*?)\n<!-- values-table:end -->", readme, re.S
    )
    assert match is not None, "values table markers missing from the chart README"
    assert match.group(1) == values_table()
    rows = values_rows()
    assert len(rows) > 100
    keys = [key for key, *_ in rows]
    for expected in (
        "database.existingSecret",
        "kafka.bootstrap",
        "collector.replicas",
        "aggregator.sessionTimeoutMs",
        "aggregator.assignmentGraceSeconds",
        "api.autoscaling.enabled",
        "networkPolicy.enabled",
    ):
        assert expected in keys
    assert all(description.strip() for *_, description in rows)
