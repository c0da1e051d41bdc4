"""The Helm chart, rendered offline by Helm's own Go SDK with default and non-default values:
lint, Kubernetes schema validation of every manifest, and what each object must say."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from services.cli import build_parser
from services.collector.config import read_config_file
from shared.settings import AggregatorSettings
from tests.deploy.conftest import CUSTOM_VALUES
from tests.deploy.support import (
    CHART,
    GRAFANA,
    NAMESPACE,
    RELEASE,
    ROOT,
    Rendered,
    chart_values,
    component_name,
    env_of,
    load_yaml,
    pod_spec,
    render,
)

COMPONENTS = ("collector", "aggregator", "api")
# Kubernetes versions to validate against: the oldest the chart supports and the newest whose
# schemas kubernetes-validate ships.
MIN_KUBE = re.sub(r"[^0-9.]", "", load_yaml(CHART / "Chart.yaml")["kubeVersion"].split("-")[0])
KUBE_VERSIONS = (MIN_KUBE, kubernetes_validate.latest_version())
CUSTOM_RESOURCES = {"ServiceMonitor", "PrometheusRule"}
HOOK_PHASES = {"pre-install", "pre-upgrade"}


def _hook(obj: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = obj["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k.startswith("helm.sh/hook")}


# --- Helm ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, CUSTOM_VALUES], ids=["default", "custom"])
def test_helm_lint_passes_strictly(values: dict[str, Any] | None) -> None:
    for kube in KUBE_VERSIONS:
        report = helm_python.lint(CHART, values, strict=True, kube_version=f"v{kube}")
        assert report["errors"] == [], report
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert problems == [], problems


def test_default_render_has_the_expected_objects(default_render: Rendered) -> None:
    kinds = sorted(o["kind"] for o in default_render.objects)
    assert kinds == sorted(
        ["Deployment"] * 2  # collector and API; the aggregator is a StatefulSet
        + ["StatefulSet"]
        + ["Service"] * 3
        + ["Secret"] * 2  # the database URL, and the migration hook's copy of it
        + ["ConfigMap", "Job", "HorizontalPodAutoscaler", "ServiceAccount"]
        + ["PodDisruptionBudget"] * 2  # aggregator and API; not the single collector
    )
    assert default_render.names("PodDisruptionBudget") == {
        component_name("aggregator"),
        component_name("api"),
    }


def test_custom_render_has_the_toggled_objects(custom_render: Rendered) -> None:
    assert custom_render.of_kind("Secret") == []  # the existing Secret is used, none created
    assert custom_render.of_kind("HorizontalPodAutoscaler") == []
    assert len(custom_render.of_kind("ServiceMonitor")) == 1
    assert len(custom_render.of_kind("PrometheusRule")) == 1
    assert custom_render.names("NetworkPolicy") == {component_name(c) for c in COMPONENTS}
    assert custom_render.names("PodDisruptionBudget") == {component_name(c) for c in COMPONENTS}


def test_every_manifest_is_valid_kubernetes(any_render: Rendered) -> None:
    checked = 0
    for obj in any_render.objects:
        if obj["kind"] in CUSTOM_RESOURCES:
            continue  # no schema shipped for CRDs: checked structurally in test_monitoring.py
        for kube in KUBE_VERSIONS:
            kubernetes_validate.validate(obj, kube, strict=True)
        checked += 1
    assert checked >= 13
    assert "StatefulSet" in {o["kind"] for o in any_render.objects}


def test_the_validator_rejects_a_broken_manifest(default_render: Rendered) -> None:
    """The validation above is real: a mistyped field or a wrong type fails it."""
    deployment = default_render.one("Deployment", component_name("api"))
    typo = yaml.safe_load(yaml.safe_dump(deployment))
    typo["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["revisionHistoryLimit"] = "five"
    for broken in (typo, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)


def test_every_object_carries_the_release_labels(any_render: Rendered) -> None:
    for obj in any_render.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/name"] == "costpipe"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert obj["metadata"]["name"].startswith(f"{RELEASE}-costpipe")


def test_render_refuses_impossible_autoscaling() -> None:
    with pytest.raises(helm_python.HelmRenderError, match="minReplicas must not exceed"):
        render({"api": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}})


# --- Pods ---------------------------------------------------------------------------------------


def test_every_pod_is_locked_down(any_render: Rendered) -> None:
    dockerfile_user = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert dockerfile_user is not None
    workloads = any_render.workloads()
    assert len(workloads) == 4
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] == int(dockerfile_user.group(1))
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"]
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["privileged"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] == "tmp"
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]


def _port(container: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return int(port)


def test_workloads_probe_the_health_endpoints(any_render: Rendered) -> None:
    for component in COMPONENTS:
        (container,) = pod_spec(any_render.workload(component))["containers"]
        env = env_of(container)
        port_name, port_env = (
            ("http", "COSTPIPE_API_PORT")
            if component == "api"
            else ("metrics", "COSTPIPE_METRICS_PORT")
        )
        assert _port(container, port_name) == int(env[port_env])
        liveness, readiness = container["livenessProbe"], container["readinessProbe"]
        assert liveness["httpGet"] == {"path": "/healthz", "port": port_name}
        assert readiness["httpGet"] == {"path": "/readyz", "port": port_name}
        for probe in (liveness, readiness):
            assert probe["periodSeconds"] >= 1
            assert probe["failureThreshold"] >= 1


def test_the_api_listens_on_all_interfaces(any_render: Rendered) -> None:
    (container,) = pod_spec(any_render.one("Deployment", component_name("api")))["containers"]
    assert env_of(container)["COSTPIPE_API_HOST"] == "0.0.0.0"


def test_every_command_is_a_costpipe_subcommand(any_render: Rendered) -> None:
    parser = build_parser()
    commands = {}
    for workload in any_render.workloads():
        (container,) = pod_spec(workload)["containers"]
        assert "command" not in container  # the image's ENTRYPOINT is `costpipe`
        commands[workload["metadata"]["name"]] = parser.parse_args(container["args"]).command
    assert commands == {
        component_name("collector"): "collector",
        component_name("aggregator"): "aggregator",
        component_name("api"): "api",
        component_name("migrate"): "migrate",
    }


def _known_variables() -> set[str]:
    """Every COSTPIPE_* variable the code reads, found in its source."""
    names = {"COSTPIPE_METRICS_PORT"}  # decided for the collector and aggregator metrics server
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"\"(COSTPIPE_[A-Z0-9_]+)\"", text))
        names |= {
            "COSTPIPE_" + n
            for n in re.findall(r"_(?:get|require|int|float)\(\s*env,\s*\"([A-Z0-9_]+)\"", text)
        }
    return names


def test_every_variable_set_is_one_the_code_reads(any_render: Rendered) -> None:
    known = _known_variables()
    assert {"COSTPIPE_DATABASE_URL", "COSTPIPE_KAFKA_BOOTSTRAP", "COSTPIPE_LOG_LEVEL"} <= known
    for workload in any_render.workloads():
        (container,) = pod_spec(workload)["containers"]
        names = [e["name"] for e in container["env"]]
        assert len(names) == len(set(names)), workload["metadata"]["name"]
        ours = {n for n in names if n.startswith("COSTPIPE_")}
        assert ours - known == set(), workload["metadata"]["name"]


def test_kafka_settings_reach_collector_and_aggregator(custom_render: Rendered) -> None:
    for component in ("collector", "aggregator"):
        (container,) = pod_spec(custom_render.workload(component))["containers"]
        env = env_of(container)
        assert env["COSTPIPE_KAFKA_BOOTSTRAP"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
        assert env["COSTPIPE_KAFKA_PARTITIONS"] == "12"
        assert env["COSTPIPE_LOG_LEVEL"] == "DEBUG"
        assert env["TZ"] == "UTC"  # global extraEnv


# --- Database secret and migration hook -----------------------------------------------------------


def _database_ref(workload: dict[str, Any]) -> dict[str, str]:
    (container,) = pod_spec(workload)["containers"]
    ref: dict[str, str] = env_of(container)["COSTPIPE_DATABASE_URL"]["secretKeyRef"]
    return ref


def test_default_database_url_goes_through_secrets(default_render: Rendered) -> None:
    url = chart_values()["database"]["url"]
    secret = default_render.one("Secret", component_name("database"))
    assert secret["stringData"] == {"database-url": url}
    assert _hook(secret) == {}
    for component in COMPONENTS:
        ref = _database_ref(default_render.workload(component))
        assert ref == {"name": component_name("database"), "key": "database-url"}
    # The hook runs before the ordinary Secret exists on a first install: it has its own copy.
    hook_secret = default_render.one("Secret", component_name("migrate"))
    assert hook_secret["stringData"] == {"database-url": url}
    job = default_render.one("Job", component_name("migrate"))
    assert _database_ref(job) == {"name": component_name("migrate"), "key": "database-url"}
    assert int(_hook(hook_secret)["helm.sh/hook-weight"]) < int(_hook(job)["helm.sh/hook-weight"])
    assert set(_hook(hook_secret)["helm.sh/hook"].split(",")) == HOOK_PHASES


def test_existing_secret_is_used_everywhere(custom_render: Rendered) -> None:
    for workload in custom_render.workloads():
        assert _database_ref(workload) == {"name": "costpipe-db", "key": "url"}


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(any_render: Rendered) -> None:
    job = any_render.one("Job", component_name("migrate"))
    hook = _hook(job)
    assert set(hook["helm.sh/hook"].split(",")) == HOOK_PHASES
    policies = set(hook["helm.sh/hook-delete-policy"].split(","))
    assert "before-hook-creation" in policies  # a rerun replaces the previous Job
    assert "hook-failed" not in policies  # a failed migration stays for its logs
    spec = pod_spec(job)
    assert spec["restartPolicy"] == "Never"
    # The chart's ServiceAccount does not exist yet when a pre-install hook runs.
    assert "serviceAccountName" not in spec
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["activeDeadlineSeconds"] > 0
    # Only hooks carry hook annotations.
    hooked = {o["metadata"]["name"] for o in any_render.objects if _hook(o)}
    assert hooked <= {component_name("migrate")}


def test_changing_the_database_url_rolls_the_pods() -> None:
    def checksums(url: str) -> set[str]:
        rendered = render({"database": {"url": url}})
        controllers = rendered.controllers()
        assert {c["kind"] for c in controllers} == {"Deployment", "StatefulSet"}
        return {
            c["spec"]["template"]["metadata"]["annotations"]["checksum/database"]
            for c in controllers
        }

    before, after = checksums("postgresql://a@db/x"), checksums("postgresql://b@db/x")
    assert len(before) == len(after) == 1
    assert before != after


# --- Collector --------------------------------------------------------------------------------


def test_collector_is_one_replica_replaced_not_rolled(any_render: Rendered) -> None:
    deployment = any_render.one("Deployment", component_name("collector"))
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_collector_reads_the_cluster_list_from_the_config_map(
    default_render: Rendered, tmp_path: Path
) -> None:
    deployment = default_render.one("Deployment", component_name("collector"))
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    path = env_of(container)["COSTPIPE_COLLECTOR_CONFIG"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in spec["volumes"]}["config"]["configMap"]
    assert mounts["config"]["readOnly"] is True
    (item,) = volume["items"]
    assert path == f"{mounts['config']['mountPath']}/{item['path']}"
    config_map = default_render.one("ConfigMap", volume["name"])
    text = config_map["data"][item["key"]]
    assert text == chart_values()["collector"]["config"]
    # The default cluster list is one the collector itself accepts.
    (tmp_path / "collector.toml").write_text(text, encoding="utf-8")
    config = read_config_file(str(tmp_path / "collector.toml"))
    assert [c.name for c in config.clusters] == ["in-cluster"]
    assert tomllib.loads(text)["clusters"][0]["base_url"].startswith("http://kubecost")


def test_collector_config_change_rolls_the_collector() -> None:
    def checksum(config: str) -> str:
        deployment = render({"collector": {"config": config}}).one(
            "Deployment", component_name("collector")
        )
        annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/config"]

    one = '[[clusters]]\nname = "a"\nbase_url = "http://a:9090"\n'
    assert checksum(one) != checksum(one.replace('"a"', '"b"'))


def test_existing_config_map_replaces_the_chart_one() -> None:
    rendered = render({"collector": {"existingConfigMap": "my-clusters", "configKey": "c.toml"}})
    assert rendered.of_kind("ConfigMap") == []
    spec = pod_spec(rendered.one("Deployment", component_name("collector")))
    volume = {v["name"]: v for v in spec["volumes"]}["config"]["configMap"]
    assert volume == {"name": "my-clusters", "items": [{"key": "c.toml", "path": "c.toml"}]}
    (container,) = spec["containers"]
    assert env_of(container)["COSTPIPE_COLLECTOR_CONFIG"] == "/etc/costpipe/c.toml"


def test_existing_secret_holds_the_cluster_list_when_given() -> None:
    rendered = render({"collector": {"existingSecret": "clusters", "existingConfigMap": "ignored"}})
    assert rendered.of_kind("ConfigMap") == []
    spec = pod_spec(rendered.one("Deployment", component_name("collector")))
    volume = {v["name"]: v for v in spec["volumes"]}["config"]
    assert volume == {
        "name": "config",
        "secret": {
            "secretName": "clusters",
            "items": [{"key": "collector.toml", "path": "collector.toml"}],
        },
    }
    for kube in KUBE_VERSIONS:
        kubernetes_validate.validate(
            rendered.one("Deployment", component_name("collector")), kube, strict=True
        )


# --- Scaling, disruption, Services ---------------------------------------------------------------


def test_api_replicas_belong_to_the_hpa_when_it_is_on(default_render: Rendered) -> None:
    deployment = default_render.one("Deployment", component_name("api"))
    assert "replicas" not in deployment["spec"]  # the HPA owns them
    hpa = default_render.one("HorizontalPodAutoscaler", component_name("api"))
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": component_name("api"),
    }
    defaults = chart_values()["api"]["autoscaling"]
    assert hpa["spec"]["minReplicas"] == defaults["minReplicas"]
    assert hpa["spec"]["maxReplicas"] == defaults["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_replicas_follow_values_without_hpa(custom_render: Rendered) -> None:
    assert custom_render.one("Deployment", component_name("api"))["spec"]["replicas"] == 4
    assert custom_render.workload("aggregator")["spec"]["replicas"] == 6


def test_budgets_policies_and_services_select_their_pods(any_render: Rendered) -> None:
    pods = {
        c["metadata"]["name"]: c["spec"]["template"]["metadata"]["labels"]
        for c in any_render.controllers()
    }
    assert len(pods) == 3
    for controller in any_render.controllers():
        selector = controller["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pods[controller["metadata"]["name"]].items()
    for pdb in any_render.of_kind("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert [n for n, labels in pods.items() if selector.items() <= labels.items()] == [
            pdb["metadata"]["name"]
        ]
    for policy in any_render.of_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert [n for n, labels in pods.items() if selector.items() <= labels.items()] == [
            policy["metadata"]["name"]
        ]
    for service in any_render.of_kind("Service"):
        matched = [
            n for n, labels in pods.items() if service["spec"]["selector"].items() <= labels.items()
        ]
        assert len(matched) == 1, service["metadata"]["name"]
        (controller,) = [c for c in any_render.controllers() if c["metadata"]["name"] == matched[0]]
        (container,) = pod_spec(controller)["containers"]
        port_names = {p["name"] for p in container["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_aggregator_drains_within_its_grace_period(any_render: Rendered) -> None:
    """The aggregator exits within 10 s of SIGTERM (services/aggregator/consumer.py)."""
    grace = pod_spec(any_render.workload("aggregator"))["terminationGracePeriodSeconds"]
    assert grace == chart_values()["aggregator"]["terminationGracePeriodSeconds"] >= 10


# --- Aggregator: a StatefulSet of static group members ---------------------------------------

# Kafka's group.instance.id: up to 249 of these characters (shared/settings.py checks the same).
KAFKA_ID = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a pod name, at most 63
# The StatefulSet controller labels each pod `controller-revision-hash: <name>-<hash>`; the hash
# is a uint32 in Kubernetes' safe encoding, at most 10 characters.
REVISION_HASH_LENGTH = 10


def _pod_names(statefulset: dict[str, Any]) -> list[str]:
    """The names a StatefulSet gives its pods, whichever pod is replaced and however often."""
    name = statefulset["metadata"]["name"]
    return [f"{name}-{ordinal}" for ordinal in range(statefulset["spec"]["replicas"])]


def _pod_env(container: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The container's environment as the kubelet gives it to the pod `pod_name` (a Secret
    reference becomes a stand-in URL)."""
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[entry["name"]] = pod_name
        else:
            assert "secretKeyRef" in entry["valueFrom"], entry
            env[entry["name"]] = "postgresql://stand-in@db/costpipe"
    return env


def test_aggregator_is_a_statefulset_without_volumes(any_render: Rendered) -> None:
    assert component_name("aggregator") not in any_render.names("Deployment")
    statefulset = any_render.workload("aggregator")
    spec = statefulset["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    # One pod at a time, each deleted before its successor of the same name starts: the
    # returning member takes its partitions back; no maxUnavailable (an alpha feature).
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert "volumeClaimTemplates" not in spec  # the aggregator keeps no local state
    assert "persistentVolumeClaimRetentionPolicy" not in spec
    assert all("persistentVolumeClaim" not in v for v in pod_spec(statefulset)["volumes"])


def test_aggregator_statefulset_is_governed_by_its_headless_metrics_service(
    any_render: Rendered,
) -> None:
    statefulset = any_render.workload("aggregator")
    service = any_render.one("Service", statefulset["spec"]["serviceName"])
    assert service["metadata"]["name"] == component_name("aggregator-metrics")
    assert service["spec"]["clusterIP"] == "None"
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]


def test_each_aggregator_is_a_static_member_named_after_its_pod(any_render: Rendered) -> None:
    """COSTPIPE_AGGREGATOR_INSTANCE_ID is the pod name exactly (downward API), and the
    aggregator's own settings loader accepts every pod's environment with that id."""
    statefulset = any_render.workload("aggregator")
    (container,) = pod_spec(statefulset)["containers"]
    assert env_of(container)["COSTPIPE_AGGREGATOR_INSTANCE_ID"] == {
        "fieldRef": {"fieldPath": "metadata.name"}
    }
    pods = _pod_names(statefulset)
    assert pods[0] == f"{component_name('aggregator')}-0"
    ids = []
    for pod in pods:
        assert DNS_LABEL.match(pod), pod
        settings = AggregatorSettings.from_env(_pod_env(container, pod))
        assert settings.instance_id == pod
        assert KAFKA_ID.match(pod)
        ids.append(settings.instance_id)
    assert len(set(ids)) == len(ids) == statefulset["spec"]["replicas"]


def test_group_timings_come_from_values(default_render: Rendered, custom_render: Rendered) -> None:
    defaults = chart_values()["aggregator"]
    for rendered, values in (
        (default_render, defaults),
        (custom_render, CUSTOM_VALUES["aggregator"]),
    ):
        (container,) = pod_spec(rendered.workload("aggregator"))["containers"]
        env = env_of(container)
        assert env["COSTPIPE_KAFKA_SESSION_TIMEOUT_MS"] == str(values["sessionTimeoutMs"])
        assert env["COSTPIPE_ASSIGNMENT_GRACE_SECONDS"] == str(values["assignmentGraceSeconds"])
        settings = AggregatorSettings.from_env(_pod_env(container, "pod-0"))
        assert settings.session_timeout_ms == values["sessionTimeoutMs"]
        assert settings.assignment_grace_seconds == values["assignmentGraceSeconds"]
    # The defaults are the aggregator's own.
    assert defaults["sessionTimeoutMs"] == AggregatorSettings().session_timeout_ms
    assert defaults["assignmentGraceSeconds"] == AggregatorSettings().assignment_grace_seconds


def test_large_integers_reach_the_aggregator_as_integers() -> None:
    """Helm reads values as floats: `quote` alone would render 1800000 (the broker's default
    group.max.session.timeout.ms) as "1.8e+06", which the aggregator refuses to start with."""
    rendered = render({"aggregator": {"sessionTimeoutMs": 1800000, "batchMaxEvents": 2000000}})
    (container,) = pod_spec(rendered.workload("aggregator"))["containers"]
    env = env_of(container)
    assert env["COSTPIPE_KAFKA_SESSION_TIMEOUT_MS"] == "1800000"
    assert env["COSTPIPE_BATCH_MAX_EVENTS"] == "2000000"
    settings = AggregatorSettings.from_env(_pod_env(container, "pod-0"))
    assert (settings.session_timeout_ms, settings.batch_max_events) == (1800000, 2000000)


def test_long_release_names_still_make_aggregator_pods() -> None:
    """A StatefulSet name over 52 characters makes its pods' controller-revision-hash label too
    long, and the controller creates none: the chart shortens that name (the others keep 63)."""
    release = "r" * 53  # the longest release name Helm accepts
    rendered = render({"aggregator": {"replicas": 12}}, release=release)
    (statefulset,) = rendered.of_kind("StatefulSet")
    name = statefulset["metadata"]["name"]
    assert name == f"{release}-costpipe"[:41] + "-aggregator"
    assert len(f"{name}-{'h' * REVISION_HASH_LENGTH}") <= 63
    (container,) = pod_spec(statefulset)["containers"]
    for pod in _pod_names(statefulset):
        assert DNS_LABEL.match(pod), pod
        assert AggregatorSettings.from_env(_pod_env(container, pod)).instance_id == pod
    service = rendered.one("Service", statefulset["spec"]["serviceName"])
    assert len(service["metadata"]["name"]) == 63
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    for kube in KUBE_VERSIONS:
        kubernetes_validate.validate(statefulset, kube, strict=True)


def test_notes_point_at_the_aggregator_statefulset(default_render: Rendered) -> None:
    name = component_name("aggregator")
    assert f"statefulset/{name}" in default_render.notes
    assert f"{name}-0" in default_render.notes
    assert f"deploy/{name}" not in default_render.notes
    assert "statefulset/" not in render({"aggregator": {"enabled": False}}).notes


def test_chart_readme_lists_the_aggregator_statefulset() -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    assert "| StatefulSet `<release>-costpipe-aggregator` |" in readme
    assert "Deployment `<release>-costpipe-aggregator`" not in readme


# --- NetworkPolicy --------------------------------------------------------------------------------


def test_network_policies_open_only_the_served_ports(custom_render: Rendered) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in custom_render.of_kind("NetworkPolicy")}
    api = policies[component_name("api")]
    assert [r["ports"] for r in api["ingress"]] == [[{"port": "http", "protocol": "TCP"}]] * 2
    assert [r["from"] for r in api["ingress"]] == [
        CUSTOM_VALUES["networkPolicy"]["apiIngressFrom"],
        CUSTOM_VALUES["networkPolicy"]["metricsIngressFrom"],
    ]
    for component in ("collector", "aggregator"):
        spec = policies[component_name(component)]
        (rule,) = spec["ingress"]
        assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
        assert rule["from"] == CUSTOM_VALUES["networkPolicy"]["metricsIngressFrom"]
    for spec in policies.values():
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        allowed = {(p["port"], p.get("protocol")) for rule in spec["egress"] for p in rule["ports"]}
        assert {(53, "UDP"), (5432, "TCP"), (9092, "TCP"), (6543, None)} <= allowed


def test_network_policy_leaves_egress_open_unless_asked() -> None:
    rendered = render({"networkPolicy": {"enabled": True}})
    for policy in rendered.of_kind("NetworkPolicy"):
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        assert "egress" not in policy["spec"]
        assert all("from" not in rule for rule in policy["spec"]["ingress"])


# --- Cross-checks with the rest of the repository -----------------------------------------------


def test_chart_alert_rules_are_the_shipped_alert_file(custom_render: Rendered) -> None:
    """With the default thresholds the chart's PrometheusRule is deploy/grafana's, rule for rule."""
    rendered = render({"prometheusRule": {"enabled": True}})
    (chart_rule,) = rendered.of_kind("PrometheusRule")
    assert chart_rule["spec"] == load_yaml(GRAFANA / "costpipe-alerts.yaml")["spec"]
    (custom_rule,) = custom_render.of_kind("PrometheusRule")
    assert custom_rule["metadata"]["labels"]["release"] == "prometheus"


def test_alert_thresholds_come_from_values() -> None:
    rendered = render(
        {"prometheusRule": {"enabled": True, "consumerLagThreshold": 123, "consumerLagFor": "3m"}}
    )
    (rule,) = rendered.of_kind("PrometheusRule")
    (lag,) = [
        r for r in rule["spec"]["groups"][0]["rules"] if r["alert"] == "CostpipeConsumerLagHigh"
    ]
    assert lag["expr"].endswith("> 123")
    assert lag["for"] == "3m"


def test_service_monitor_scrapes_every_component(custom_render: Rendered) -> None:
    (monitor,) = custom_render.of_kind("ServiceMonitor")
    spec = monitor["spec"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    endpoints = {e["port"]: e for e in spec["endpoints"]}
    assert all(e["path"] == "/metrics" for e in endpoints.values())
    scraped = set()
    for service in custom_render.of_kind("Service"):
        if spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items():
            ports = {p["name"] for p in service["spec"]["ports"]}
            assert ports & set(endpoints), service["metadata"]["name"]
            scraped.add(service["spec"]["selector"]["app.kubernetes.io/component"])
    assert scraped == set(COMPONENTS)
