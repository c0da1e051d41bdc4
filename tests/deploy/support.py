"""Shared pieces of the deployment tests: where the files are, rendering the chart with the Helm
SDK, and reading PromQL with a real PromQL parser.

Nothing here talks to a cluster, a registry or Docker: the chart is rendered offline by Helm's Go
SDK (`helm-python-sdk`), manifests are checked against the Kubernetes OpenAPI schemas shipped in
`kubernetes-validate`, and PromQL is parsed by `promql-parser` (a port of Prometheus' parser).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "costpipe"
GRAFANA = ROOT / "deploy" / "grafana"
RELEASE = "prod"
NAMESPACE = "finops"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def chart_values() -> dict[str, Any]:
    values: dict[str, Any] = load_yaml(CHART / "values.yaml")
    return values


def chart_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    return schema


@dataclass
class Rendered:
    """One rendering of the chart: every manifest, parsed, with the template it came from."""

    objects: list[dict[str, Any]]
    sources: dict[int, str] = field(default_factory=dict)
    notes: str = ""

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {o["metadata"]["name"] for o in self.of_kind(kind)}

    def controllers(self) -> list[dict[str, Any]]:
        """Deployments and StatefulSets: the long-running pods."""
        return self.of_kind("Deployment") + self.of_kind("StatefulSet")

    def workloads(self) -> list[dict[str, Any]]:
        """Deployments, StatefulSets and Jobs: everything that runs a pod."""
        return self.controllers() + self.of_kind("Job")

    def workload(self, component: str) -> dict[str, Any]:
        """The Deployment or StatefulSet of a component (the aggregator's is a StatefulSet)."""
        kind = "StatefulSet" if component == "aggregator" else "Deployment"
        return self.one(kind, component_name(component))


def render(values: Mapping[str, Any] | None = None, release: str = RELEASE) -> Rendered:
    """Render the chart as `helm template` would, hooks included (Helm validates the values
    against values.schema.json first)."""
    with helm_python.Chart.load(CHART) as chart:
        manifests = chart.render(
            dict(values) if values is not None else None, name=release, namespace=NAMESPACE
        )
    objects: list[dict[str, Any]] = []
    sources: dict[int, str] = {}
    notes = ""
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            notes = text
            continue
        for document in yaml.safe_load_all(text):
            if document:
                sources[len(objects)] = template
                objects.append(document)
    return Rendered(objects, sources, notes)


def component_name(component: str) -> str:
    """Object name of a component for the test release (`<release>-costpipe-<component>`)."""
    return f"{RELEASE}-costpipe-{component}"


def env_of(container: Mapping[str, Any]) -> dict[str, Any]:
    """A container's environment: plain values as strings, references as their dict."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


# --- PromQL -----------------------------------------------------------------------------------

# Grafana replaces these before the query reaches Prometheus; any valid duration stands in.
_GRAFANA_DURATIONS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service", "container"})


def as_promql(expr: str) -> str:
    for variable, duration in _GRAFANA_DURATIONS.items():
        expr = expr.replace(variable, duration)
    return expr


@dataclass(frozen=True)
class Selector:
    name: str
    labels: frozenset[str]


@dataclass(frozen=True)
class Grouping:
    labels: frozenset[str]
    selectors: tuple[Selector, ...]


def _selector(node: promql_parser.VectorSelector) -> Selector:
    matchers = list(node.matchers.matchers) if node.matchers else []
    name = node.name or next((m.value for m in matchers if m.name == "__name__"), None)
    assert name, f"selector without a metric name: {node}"
    return Selector(name, frozenset(m.name for m in matchers if m.name != "__name__"))


def _selectors_in(node: promql_parser.Expr) -> list[Selector]:
    found: list[Selector] = []

    def visit(child: object) -> None:
        if isinstance(child, promql_parser.VectorSelector):
            found.append(_selector(child))

    promql_parser.walk(node, pre_visit=visit)
    return found


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of a PromQL expression (parse errors raise ValueError)."""
    return _selectors_in(promql_parser.parse(as_promql(expr)))


def groupings(expr: str) -> list[Grouping]:
    """Each `by (...)` aggregation with the selectors it aggregates over."""
    found: list[Grouping] = []

    def visit(node: object) -> None:
        if (
            isinstance(node, promql_parser.AggregateExpr)
            and node.modifier is not None
            and node.modifier.type == promql_parser.AggModifierType.By
        ):
            found.append(Grouping(frozenset(node.modifier.labels), tuple(_selectors_in(node.expr))))

    promql_parser.walk(promql_parser.parse(as_promql(expr)), pre_visit=visit)
    return found


def label_problems(expr: str, exported: Mapping[str, frozenset[str]]) -> list[str]:
    """What in `expr` names a series or a label the services do not export."""
    problems: list[str] = []
    for selector in selectors(expr):
        if selector.name not in exported:
            problems.append(f"metric {selector.name} is not exported")
        elif unknown := selector.labels - exported[selector.name]:
            problems.append(f"{selector.name} has no label(s) {sorted(unknown)}")
    for grouping in groupings(expr):
        known: set[str] = set(_TARGET_LABELS)
        for selector in grouping.selectors:
            known |= exported.get(selector.name, frozenset())
        if unknown := grouping.labels - known:
            problems.append(f"by {sorted(unknown)}: no such label on {grouping.selectors}")
    return problems


def _exercise_api_metrics() -> None:
    """The API's request metrics come from Litestar's Prometheus middleware, which creates them
    on the first request. Serve two requests (one answered, one failing) through that middleware
    configured as the API configures it (prefix `shared.metrics.API_METRICS_PREFIX`, route
    templates as `path`) so the real names and labels land in the default registry."""
    from litestar import Litestar, get
    from litestar.plugins.prometheus import PrometheusConfig
    from litestar.testing import TestClient

    from shared.metrics import API_METRICS_PREFIX

    @get("/items", sync_to_thread=False)
    def item() -> str:
        return "item"

    @get("/broken", sync_to_thread=False)
    def broken() -> str:
        raise RuntimeError("a server error for the error counter")

    config = PrometheusConfig(app_name="costpipe-api", prefix=API_METRICS_PREFIX, group_path=True)
    app = Litestar([item, broken], middleware=[config.middleware], logging_config=None)
    with TestClient(app) as client:
        assert client.get("/items").status_code == 200
        assert client.get("/broken").status_code == 500


def exported_metrics() -> dict[str, frozenset[str]]:
    """Every `costpipe_*` series name the services export, with its label names, read from the
    default Prometheus registry after importing the modules that define the metrics and
    exercising the API's middleware. prometheus_client adds `_total` to counters and
    `_bucket/_sum/_count` to histograms (with `le` on buckets)."""
    import prometheus_client
    from prometheus_client.metrics import MetricWrapperBase

    import services.collector.stats
    import shared.metrics

    _exercise_api_metrics()
    declared: dict[str, frozenset[str]] = {}
    for module in (services.collector.stats, shared.metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                declared[value._name] = frozenset(value._labelnames)
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
        "summary": ("_sum", "_count", ""),
    }
    exported: dict[str, frozenset[str]] = {}
    for family in prometheus_client.REGISTRY.collect():
        if not family.name.startswith("costpipe_"):
            continue
        labels = set(declared.get(family.name, frozenset()))
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        for suffix in suffixes[family.type]:
            extra = {"le"} if suffix == "_bucket" else set()
            exported[family.name + suffix] = frozenset(labels | extra)
    return exported


# --- Grafana ----------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (GRAFANA / "costpipe-dashboard.json").read_text(encoding="utf-8")
    )
    return loaded


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those nested in collapsed rows included."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def alert_rules(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"]]


LABEL_VALUES = re.compile(
    r"^label_values\((?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*),\s*(?P<label>\w+)\)$"
)


# --- Values documentation ---------------------------------------------------------------------


def resolve_ref(schema: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """A schema node with its `$ref` (to `#/definitions/...`) merged in; the node's own
    description wins."""
    resolved = dict(node)
    if "$ref" in node:
        target = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        resolved = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return resolved


def _type_text(node: Mapping[str, Any]) -> str:
    kind = node.get("type", "any")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _default_text(value: Any) -> str:
    if isinstance(value, str) and "\n" in value:
        return "(multi-line, see values.yaml)"
    return json.dumps(value, separators=(", ", ": "))


def values_rows() -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every documented value, in values.yaml order.

    A value is one row unless it is a map whose schema lists its properties: those are
    documented key by key (free-form maps such as resources.requests are one row)."""
    schema = chart_schema()
    rows: list[tuple[str, str, str, str]] = []

    def walk(prefix: str, values: Mapping[str, Any], node: Mapping[str, Any]) -> None:
        for key, value in values.items():
            child = resolve_ref(schema, node["properties"][key])
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and "properties" in child:
                walk(path + ".", value, child)
            else:
                rows.append((path, _type_text(child), _default_text(value), child["description"]))

    walk("", chart_values(), schema)
    return rows


def values_table() -> str:
    lines = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    lines += [f"| `{k}` | {t} | `{d}` | {text} |" for k, t, d, text in values_rows()]
    return "\n".join(lines)
