"""The Grafana dashboard and the alert rules: their structure, and that every series and label
their PromQL names is one the services export (read from the Prometheus registry)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.metrics import API_METRIC_NAMES
from tests.deploy.support import (
    GRAFANA,
    LABEL_VALUES,
    Rendered,
    alert_rules,
    dashboard,
    groupings,
    label_problems,
    load_yaml,
    panels,
    selectors,
)

DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
EXPECTED_ALERTS = {
    "CostpipeConsumerLagHigh",
    "CostpipeCollectorFetchFailures",
    "CostpipeCollectorCycleFailures",
    "CostpipeCollectorWatermarkStale",
    "CostpipeDeadLettersGrowing",
    "CostpipeAggregatorDatabaseRetries",
    "CostpipeAggregatorSlowWrites",
    "CostpipeAggregatorUnassigned",
    "CostpipeApiErrors",
}


def _targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target)
        for panel in panels(dashboard())
        for target in panel.get("targets", [])
    ]


# --- What the services export -------------------------------------------------------------------


def test_registry_holds_every_service_metric(exported: dict[str, frozenset[str]]) -> None:
    for name in (
        "costpipe_aggregator_consumer_lag",
        "costpipe_aggregator_events_total",
        "costpipe_aggregator_write_seconds_bucket",
        "costpipe_collector_errors_total",
        "costpipe_collector_watermark_seconds",
    ):
        assert name in exported
    assert exported["costpipe_collector_errors_total"] == {"cluster", "reason"}
    # The API's names as shared.metrics declares them are the ones its middleware creates.
    for name in API_METRIC_NAMES:
        assert any(n == name or n.startswith(name + "_") for n in exported), name
    assert "path" in exported["costpipe_api_request_duration_seconds_bucket"]


def test_the_checker_finds_unknown_series_and_labels(exported: dict[str, frozenset[str]]) -> None:
    """label_problems is what the dashboard and alert tests rely on: it must object."""
    assert label_problems("sum(rate(costpipe_collector_errors_total[5m]))", exported) == []
    assert label_problems("rate(costpipe_collector_error_total[5m])", exported) == [
        "metric costpipe_collector_error_total is not exported"
    ]
    assert label_problems('costpipe_collector_polls_total{cluser="a"}', exported) == [
        "costpipe_collector_polls_total has no label(s) ['cluser']"
    ]
    problems = label_problems("sum by (route) (rate(costpipe_api_requests_total[5m]))", exported)
    assert len(problems) == 1
    assert "route" in problems[0]
    assert label_problems("up == 0", exported) == ["metric up is not exported"]
    with pytest.raises(ValueError, match="parenthes"):
        selectors("sum(rate(costpipe_collector_errors_total[5m])")


# --- Dashboard ----------------------------------------------------------------------------------


def test_dashboard_has_the_grafana_structure() -> None:
    board = dashboard()
    assert isinstance(board["schemaVersion"], int)
    assert board["schemaVersion"] >= 36
    assert board["title"]
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", board["uid"])
    assert board["time"]["from"].startswith("now-")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys()
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in "hwxy")
        assert grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard()):
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_queries_name_only_exported_series(exported: dict[str, frozenset[str]]) -> None:
    targets = _targets()
    assert len(targets) >= 15
    problems = {title: label_problems(t["expr"], exported) for title, t in targets}
    assert {title: p for title, p in problems.items() if p} == {}
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["definition"])
            assert match is not None, variable["definition"]
            assert match["label"] in exported[match["metric"]]


@pytest.mark.parametrize(
    ("topic", "series"),
    [
        ("pipeline lag", {"costpipe_aggregator_consumer_lag"}),
        (
            "throughput",
            {"costpipe_collector_events_produced_total", "costpipe_aggregator_events_total"},
        ),
        ("collector errors", {"costpipe_collector_errors_total"}),
        ("dead letters", {"costpipe_aggregator_dead_letters_total"}),
        ("watermark", {"costpipe_collector_watermark_seconds"}),
        ("write latency", {"costpipe_aggregator_write_seconds_bucket"}),
        (
            "partition ownership",
            {
                "costpipe_aggregator_assigned_partitions",
                "costpipe_aggregator_unassigned_seconds_total",
            },
        ),
        ("api latency", {"costpipe_api_request_duration_seconds_bucket"}),
    ],
)
def test_dashboard_shows(topic: str, series: set[str]) -> None:
    shown = {s.name for _, target in _targets() for s in selectors(target["expr"])}
    assert series <= shown, topic


def test_dashboard_shows_gaps_and_latency_by_route() -> None:
    exprs = [t["expr"] for _, t in _targets()]
    assert any(
        "costpipe_collector_errors_total" in e and 'reason!~"kafka|database|internal"' in e
        for e in exprs
    ), "no panel separates fetch gaps from cycle failures"
    by_route = [
        e
        for e in exprs
        if e.startswith("histogram_quantile(")
        and "costpipe_api_request_duration_seconds_bucket" in e
    ]
    assert by_route
    assert all("by (le, path)" in e for e in by_route)
    assert any(
        "costpipe_aggregator_write_seconds_bucket" in e and e.startswith("histogram_quantile(")
        for e in exprs
    )


# --- Alert rules --------------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    document = load_yaml(GRAFANA / "costpipe-alerts.yaml")
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    assert document["metadata"]["name"]
    return alert_rules(document["spec"]["groups"])


def test_alert_rules_have_the_expected_alerts() -> None:
    names = [r["alert"] for r in _rules()]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_ALERTS


def test_alert_rules_are_well_formed(exported: dict[str, frozenset[str]]) -> None:
    for rule in _rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"].strip()
        assert rule["annotations"]["description"].strip()
        assert label_problems(rule["expr"], exported) == [], rule["alert"]
        # Alert templates may use only labels the expression groups by.
        templated = set(re.findall(r"\$labels\.(\w+)", rule["annotations"]["summary"]))
        kept = {label for grouping in groupings(rule["expr"]) for label in grouping.labels}
        assert templated <= kept, rule["alert"]


@pytest.mark.parametrize(
    ("alert", "series"),
    [
        ("CostpipeConsumerLagHigh", "costpipe_aggregator_consumer_lag"),
        ("CostpipeCollectorFetchFailures", "costpipe_collector_errors_total"),
        ("CostpipeCollectorCycleFailures", "costpipe_collector_errors_total"),
        ("CostpipeCollectorWatermarkStale", "costpipe_collector_watermark_seconds"),
        ("CostpipeDeadLettersGrowing", "costpipe_aggregator_dead_letters_total"),
        ("CostpipeAggregatorUnassigned", "costpipe_aggregator_unassigned_seconds_total"),
    ],
)
def test_each_alert_watches_its_series(alert: str, series: str) -> None:
    (rule,) = [r for r in _rules() if r["alert"] == alert]
    assert series in {s.name for s in selectors(rule["expr"])}


def test_prometheus_rule_objects_are_structurally_sound(custom_render: Rendered) -> None:
    """No CRD schema ships offline, so the operator's objects are checked by shape."""
    (rule,) = custom_render.of_kind("PrometheusRule")
    (monitor,) = custom_render.of_kind("ServiceMonitor")
    for obj in (rule, monitor):
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    for group in rule["spec"]["groups"]:
        assert set(group) == {"name", "rules"}
        for item in group["rules"]:
            assert isinstance(item["expr"], str)
            assert all(isinstance(v, str) for v in item["labels"].values())
            assert all(isinstance(v, str) for v in item["annotations"].values())
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
        assert DURATION.match(endpoint["interval"])
        assert DURATION.match(endpoint["scrapeTimeout"])
    assert set(monitor["spec"]["selector"]) == {"matchLabels"}
