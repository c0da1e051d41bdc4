"""Renderings of the chart shared by the deployment tests (rendering is offline and fast, but
each scenario is rendered once per session)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.support import Rendered, exported_metrics, render

# Everything non-default at once: an existing Secret instead of a URL, the Prometheus Operator
# objects and NetworkPolicies on, no HPA, more replicas, another image, extra env and annotations,
# other aggregator group timings.
CUSTOM_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/platform/costpipe", "tag": "1.2.3"},
    "database": {"existingSecret": "costpipe-db", "existingSecretKey": "url", "url": ""},
    "kafka": {"bootstrap": "kafka-0.kafka:9092,kafka-1.kafka:9092", "partitions": 12},
    "logLevel": "DEBUG",
    "podAnnotations": {"example.com/team": "finops"},
    "extraEnv": [{"name": "TZ", "value": "UTC"}],
    "aggregator": {
        "replicas": 6,
        "sessionTimeoutMs": 45000,
        "assignmentGraceSeconds": 90.5,
        "podAnnotations": {"example.com/role": "consumer"},
    },
    "api": {
        "replicas": 4,
        "autoscaling": {"enabled": False},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": "25%"},
        "service": {"type": "LoadBalancer", "port": 443},
    },
    "collector": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
    "networkPolicy": {
        "enabled": True,
        "apiIngressFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
        ],
        "metricsIngressFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "egress": {
            "restrict": True,
            "extraRules": [
                {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 6543}]}
            ],
        },
    },
}


@pytest.fixture(scope="session")
def default_render() -> Rendered:
    return render()


@pytest.fixture(scope="session")
def custom_render() -> Rendered:
    return render(CUSTOM_VALUES)


@pytest.fixture(scope="session", params=["default", "custom"])
def any_render(request: pytest.FixtureRequest) -> Rendered:
    rendered: Rendered = request.getfixturevalue(f"{request.param}_render")
    return rendered


@pytest.fixture(scope="session")
def exported() -> dict[str, frozenset[str]]:
    return exported_metrics()
