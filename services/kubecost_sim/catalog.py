"""Static tables the simulator builds its clusters from.

Kept apart from the generator so that the shape of a synthetic cluster (which services exist,
what they request, what machines cost) can be read and tuned in one place without touching the
arithmetic that has to stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3

# Kubecost's default list prices for AWS on-demand, per core-hour and per GiB-hour; other
# flavours scale them by `Flavor.price_factor` so clusters are not identical.
CPU_PRICE = 0.031611
RAM_PRICE = 0.004237
# EBS gp3 list price per GiB-month, spread over 730 hours a month as Kubecost does.
PV_PRICE_PER_GIB_HOUR = 0.08 / 730
LB_PRICE_PER_HOUR = 0.025
CROSS_ZONE_PRICE_PER_GIB = 0.01
CROSS_REGION_PRICE_PER_GIB = 0.02
INTERNET_PRICE_PER_GIB = 0.09


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One node group; every node in it is the same machine type, as in a managed node group."""

    name: str
    cpu_cores: int
    ram_gib: int
    gpus: int
    cpu_price: float
    ram_price: float
    gpu_price: float
    min_nodes: int


GROUPS: tuple[GroupSpec, ...] = (
    GroupSpec("general", 8, 32, 0, CPU_PRICE, RAM_PRICE, 0.0, 2),
    GroupSpec("memory", 8, 64, 0, CPU_PRICE * 0.9, RAM_PRICE * 1.02, 0.0, 1),
    GroupSpec("gpu", 8, 32, 1, CPU_PRICE, RAM_PRICE, 0.8235, 1),
)
GROUP_INDEX: dict[str, int] = {g.name: i for i, g in enumerate(GROUPS)}


@dataclass(frozen=True, slots=True)
class Flavor:
    """How one kind of managed Kubernetes names and labels its nodes.

    The pipeline derives node groups from whichever label the provider sets, so the clusters
    deliberately use different ones.
    """

    name: str
    provider: str
    account: str
    project: str
    region: str
    zones: tuple[str, ...]
    group_label: str
    instance_types: tuple[str, str, str]
    gpu_model: str
    price_factor: float
    spot_general: bool
    extra_labels: tuple[tuple[str, str], ...]


FLAVORS: tuple[Flavor, ...] = (
    Flavor(
        name="eks",
        provider="AWS",
        account="123456789012",
        project="__undefined__",
        region="us-east-1",
        zones=("us-east-1a", "us-east-1b", "us-east-1c"),
        group_label="eks.amazonaws.com/nodegroup",
        instance_types=("m5.2xlarge", "r5.2xlarge", "g5.2xlarge"),
        gpu_model="NVIDIA A10G",
        price_factor=1.0,
        spot_general=False,
        extra_labels=(("eks.amazonaws.com/capacityType", "ON_DEMAND"),),
    ),
    Flavor(
        name="gke",
        provider="GCP",
        account="__undefined__",
        project="sim-project",
        region="europe-west1",
        zones=("europe-west1-b", "europe-west1-c", "europe-west1-d"),
        group_label="cloud.google.com/gke-nodepool",
        instance_types=("e2-standard-8", "n2-highmem-8", "g2-standard-8"),
        gpu_model="NVIDIA L4",
        price_factor=0.93,
        spot_general=False,
        extra_labels=(("cloud.google.com/gke-os-distribution", "cos"),),
    ),
    Flavor(
        name="karpenter",
        provider="AWS",
        account="210987654321",
        project="__undefined__",
        region="us-west-2",
        zones=("us-west-2a", "us-west-2b", "us-west-2c"),
        group_label="karpenter.sh/nodepool",
        instance_types=("m6i.2xlarge", "r6i.2xlarge", "g5.2xlarge"),
        gpu_model="NVIDIA A10G",
        price_factor=1.04,
        spot_general=True,
        extra_labels=(("karpenter.k8s.aws/instance-category", "m"),),
    ),
    Flavor(
        name="aks",
        provider="Azure",
        account="0b8c3a52-6d1e-4f7a-9c2b-5e4d3f2a1b0c",
        project="__undefined__",
        region="eastus",
        zones=("eastus-1", "eastus-2", "eastus-3"),
        group_label="kubernetes.azure.com/agentpool",
        instance_types=("Standard_D8s_v5", "Standard_E8s_v5", "Standard_NV36ads_A10_v5"),
        gpu_model="NVIDIA A10",
        price_factor=1.07,
        spot_general=False,
        extra_labels=(("kubernetes.azure.com/mode", "user"),),
    ),
)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A workload template; a cluster instantiates the catalogue in order, suffixing repeats."""

    name: str
    namespace: str
    team: str
    kind: str
    group: str
    cpu: float
    ram_gib: float
    gpus: int = 0
    replicas: tuple[int, int] = (1, 1)
    pv_gib: int = 0
    load_balancer: bool = False
    amplitude: float = 0.0
    weekend_dip: float = 0.0
    sidecar: bool = False
    egress_gib: float = 0.05
    job_start: int = 0
    job_hours: int = 0
    job_every_days: int = 1


# A table reads better one service per entry than one argument per line.
# fmt: off
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("frontend", "web", "web", "deployment", "general", 0.5, 1.0, replicas=(2, 6),
                load_balancer=True, amplitude=0.5, weekend_dip=0.3, sidecar=True, egress_gib=0.8),
    ServiceSpec("checkout", "payments", "payments", "deployment", "general", 0.5, 1.0,
                replicas=(2, 5), amplitude=0.45, weekend_dip=0.2, sidecar=True, egress_gib=0.2),
    ServiceSpec("payments-api", "payments", "payments", "deployment", "general", 1.0, 2.0,
                replicas=(2, 4), load_balancer=True, amplitude=0.4, weekend_dip=0.25,
                egress_gib=0.3),
    ServiceSpec("ledger-db", "payments", "payments", "statefulset", "memory", 2.0, 8.0,
                replicas=(3, 3), pv_gib=200, amplitude=0.1, egress_gib=0.4),
    ServiceSpec("search-api", "search", "search", "deployment", "general", 1.0, 2.0,
                replicas=(2, 6), load_balancer=True, amplitude=0.5, weekend_dip=0.2,
                egress_gib=0.5),
    ServiceSpec("search-index", "search", "search", "statefulset", "memory", 2.0, 16.0,
                replicas=(3, 3), pv_gib=500, amplitude=0.15, egress_gib=0.6),
    ServiceSpec("catalog", "web", "web", "deployment", "general", 0.25, 0.5, replicas=(2, 4),
                amplitude=0.4, weekend_dip=0.2, egress_gib=0.1),
    ServiceSpec("cart", "web", "web", "deployment", "general", 0.25, 1.0, replicas=(2, 4),
                amplitude=0.45, weekend_dip=0.3, egress_gib=0.1),
    ServiceSpec("redis-cache", "web", "web", "statefulset", "memory", 0.5, 4.0,
                pv_gib=20, amplitude=0.2, egress_gib=0.3),
    ServiceSpec("ml-inference", "ml", "ml", "deployment", "gpu", 2.0, 8.0, gpus=1,
                replicas=(1, 2), load_balancer=True, amplitude=0.3, egress_gib=0.2),
    ServiceSpec("ml-training", "ml", "ml", "job", "gpu", 4.0, 16.0, gpus=1, job_start=20,
                job_hours=6, job_every_days=2),
    ServiceSpec("feature-store", "ml", "ml", "statefulset", "memory", 1.0, 8.0, pv_gib=100,
                amplitude=0.1, egress_gib=0.2),
    ServiceSpec("etl-nightly", "data", "data", "job", "general", 2.0, 4.0, job_start=1,
                job_hours=3),
    ServiceSpec("kafka", "data", "data", "statefulset", "memory", 1.0, 4.0, replicas=(3, 3),
                pv_gib=300, amplitude=0.3, egress_gib=1.0),
    ServiceSpec("reporting", "data", "data", "job", "general", 1.0, 2.0, job_start=6,
                job_hours=1),
    ServiceSpec("node-exporter", "monitoring", "platform", "daemonset", "*", 0.05, 0.0625),
    ServiceSpec("fluent-bit", "logging", "platform", "daemonset", "*", 0.1, 0.125,
                egress_gib=0.05),
    ServiceSpec("prometheus", "monitoring", "platform", "statefulset", "memory", 1.0, 8.0,
                pv_gib=100, amplitude=0.05, egress_gib=0.1),
    ServiceSpec("grafana", "monitoring", "platform", "deployment", "general", 0.25, 0.5,
                amplitude=0.2, weekend_dip=0.5),
    ServiceSpec("ingress-nginx", "ingress-nginx", "platform", "deployment", "general", 0.5, 0.5,
                replicas=(2, 4), load_balancer=True, amplitude=0.5, weekend_dip=0.25,
                egress_gib=1.5),
    ServiceSpec("coredns", "kube-system", "platform", "deployment", "general", 0.1, 0.07,
                replicas=(2, 2)),
    ServiceSpec("auth", "identity", "identity", "deployment", "general", 0.25, 0.5,
                replicas=(2, 3), amplitude=0.35, weekend_dip=0.2, sidecar=True),
    ServiceSpec("notifications", "messaging", "growth", "deployment", "general", 0.25, 0.5,
                replicas=(1, 3), amplitude=0.4, weekend_dip=0.1, egress_gib=0.3),
    ServiceSpec("thumbnailer", "media", "web", "job", "general", 1.0, 2.0, job_start=12,
                job_hours=2),
)
# fmt: on

TEAM_OWNERS: dict[str, tuple[str, ...]] = {
    "web": ("carol", "dave"),
    "payments": ("alice", "bob"),
    "search": ("erin",),
    "ml": ("frank", "grace"),
    "data": ("heidi", "ivan"),
    "platform": ("judy", "oscar"),
    "identity": ("peggy",),
    "growth": ("trent",),
}

NAMESPACE_TEAM: dict[str, str] = {s.namespace: s.team for s in reversed(SERVICES)}

SIDECAR_NAME = "envoy"
SIDECAR_CPU = 0.1
SIDECAR_RAM_GIB = 0.125
