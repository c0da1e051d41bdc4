"""The static shape of one synthetic cluster: nodes, workloads, pods, containers, volumes.

Everything here depends only on (seed, cluster index, workload count), so it is built once and
cached; the hourly generator then only does arithmetic. Names, provider ids and label sets are
precomputed in the exact form Kubecost emits them (label keys sanitised to Prometheus form, e.g.
`eks.amazonaws.com/nodegroup` -> `eks_amazonaws_com_nodegroup`) so the hot path never formats
strings.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from services.kubecost_sim import catalog
from services.kubecost_sim.catalog import GIB, GROUP_INDEX, GROUPS, Flavor, ServiceSpec
from services.kubecost_sim.hashing import k8s_suffix, stable_hash, stable_hex, unit

# Hour index (hours since the Unix epoch) of 2024-01-01T00:00Z: the trend is 1.0 there.
TREND_EPOCH_HOUR = 1_704_067_200 // 3600
TREND_MIN = 0.8
TREND_MAX = 1.2
# Containers may use more than they request, up to their limit (CPU is throttled there, memory
# is OOM-killed). Nodes are sized for every pod at its limit in the busiest possible hour, so
# idle never has to be clamped and node cost == allocated + idle holds exactly, every hour.
CPU_LIMIT_FACTOR = 1.4
RAM_LIMIT_FACTOR = 1.1
_NODE_HEADROOM = 0.95

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label(key: str) -> str:
    """Label key as Kubecost reports it (Prometheus label-name rules)."""
    return _INVALID_LABEL_CHARS.sub("_", key)


def cluster_name(index: int) -> str:
    """Name every component uses for synthetic cluster `index`."""
    return f"sim-cluster-{index}"


@dataclass(frozen=True, slots=True)
class Node:
    """A node; prices are per hour for the whole machine, already in 1e-5 currency units."""

    index: int
    name: str
    group: str
    group_index: int
    instance_type: str
    zone: str
    provider_id: str
    labels: dict[str, str]
    preemptible: bool
    cpu_cores: int
    ram_bytes: int
    gpus: int
    cpu_price: float
    ram_price: float
    gpu_price: float
    cpu_units: int
    ram_units: int
    gpu_units: int
    asset_key: str
    # A node relabelled into another node group keeps its machine (and so its price and its
    # place in the idle arithmetic, `group_index`) but reports the new group's label and pool
    # from hour `move_hour` (an hour index) on, as Kubecost reports whatever the node says.
    move_hour: int | None = None
    moved_group: str = ""
    moved_labels: dict[str, str] | None = None
    # False for a node no pod is scheduled on, not even a DaemonSet's (cordoned and tainted).
    hosts_pods: bool = True

    def group_at(self, hour: int) -> str:
        """The node group the node reports in hour `hour` (an hour index)."""
        if self.move_hour is not None and hour >= self.move_hour:
            return self.moved_group
        return self.group

    def labels_at(self, hour: int) -> dict[str, str]:
        """The node's labels in hour `hour`; shared, never mutated."""
        if self.moved_labels is not None and self.move_hour is not None and hour >= self.move_hour:
            return self.moved_labels
        return self.labels


@dataclass(frozen=True, slots=True)
class Volume:
    """A persistent volume bound to one StatefulSet pod."""

    name: str
    claim: str
    namespace: str
    bytes: int
    units_per_hour: int
    fill: float
    pvs_key: str
    asset_key: str
    storage_class: str


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """A `type: LoadBalancer` Service; its hourly cost is split across the pods behind it."""

    name: str
    ip: str
    units_per_hour: int
    asset_key: str


@dataclass(frozen=True, slots=True)
class Container:
    """One container; `props` is the allocation `properties` object, shared, never mutated."""

    name: str
    key: int
    primary: bool
    cpu_req: float
    ram_req: float
    gpus: int
    props: dict[str, Any]
    full_name: str
    gpu_meta: tuple[str, str, str] | None


@dataclass(frozen=True, slots=True)
class Pod:
    """One pod of a workload, pinned to a node for its whole life."""

    name: str
    ordinal: int
    node: Node
    containers: tuple[Container, ...]
    volume: Volume | None


@dataclass(frozen=True, slots=True)
class Workload:
    """A controller and its behaviour over time (load shape, replica range, job schedule)."""

    name: str
    namespace: str
    kind: str
    service: str
    team: str
    owner: str
    key: int
    pods: tuple[Pod, ...]
    min_replicas: int
    max_replicas: int
    amplitude: float
    weekend_dip: float
    tz_shift: int
    cpu_util: float
    ram_util: float
    gpu_util: float
    egress_bytes: float
    internet_share: float
    load_balancer: LoadBalancer | None
    job_start: int
    job_hours: int
    job_every_days: int
    job_phase: int
    load_lo: float
    load_hi: float


@dataclass(frozen=True, slots=True)
class Cluster:
    """Everything static about one synthetic cluster."""

    index: int
    name: str
    key: int
    flavor: Flavor
    growth_per_year: float
    nodes: tuple[Node, ...]
    workloads: tuple[Workload, ...]
    volumes: tuple[Volume, ...]
    load_balancers: tuple[LoadBalancer, ...]
    group_cpu_units: tuple[int, ...]
    group_ram_units: tuple[int, ...]
    group_gpu_units: tuple[int, ...]
    group_cores: tuple[float, ...]
    group_ram_bytes: tuple[float, ...]
    group_gpus: tuple[float, ...]
    idle_props: dict[str, Any]

    def trend(self, hour: int) -> float:
        """Slow linear growth of requests, clamped so node sizing stays valid for any hour."""
        t = 1.0 + self.growth_per_year * (hour - TREND_EPOCH_HOUR) / 8760.0
        return TREND_MIN if t < TREND_MIN else TREND_MAX if t > TREND_MAX else t


def _units(amount: float) -> int:
    return round(amount * 100_000)


def _node_name(flavor: Flavor, cluster: str, group: str, seq: int, seed: int, salt: int) -> str:
    h = stable_hash(seed, cluster, "node", group, seq, salt)
    if flavor.name == "gke":
        return f"gke-{cluster}-{group}-{stable_hex(8, h)}-{k8s_suffix(4, h)}"
    if flavor.name == "aks":
        return f"aks-{group}-{10_000_000 + h % 89_999_999}-vmss{seq:06d}"
    return f"ip-10-{h % 200 + 10}-{(h >> 8) % 256}-{(h >> 16) % 254 + 1}.{flavor.region}.compute.internal"


def _provider_id(flavor: Flavor, name: str, seq: int, h: int) -> tuple[str, str]:
    """(short id used in allocations/asset properties, full id used in node labels)."""
    if flavor.provider == "AWS":
        iid = f"i-0{stable_hex(16, h, name)}"
        return iid, f"aws:///{flavor.zones[seq % len(flavor.zones)]}/{iid}"
    if flavor.provider == "GCP":
        return name, f"gce://{flavor.project}/{flavor.zones[seq % len(flavor.zones)]}/{name}"
    vmss = name.rsplit("-vmss", 1)[0] + "-vmss"
    full = (
        f"azure:///subscriptions/{flavor.account}/resourceGroups/mc_sim_eastus/providers/"
        f"Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{seq}"
    )
    return full, full


def _asset_prefix(flavor: Flavor, category: str, cluster: str, kind: str) -> str:
    return f"{flavor.provider}/{flavor.account}/{flavor.project}/{category}/{cluster}/{kind}/Kubernetes"


def _sidecar(spec: ServiceSpec) -> tuple[float, float]:
    if not spec.sidecar:
        return 0.0, 0.0
    return catalog.SIDECAR_CPU, catalog.SIDECAR_RAM_GIB * GIB


def _node_counts(specs: list[tuple[ServiceSpec, float, float]]) -> list[int]:
    """Nodes per group so the busiest possible hour still fits (see CPU_LIMIT_FACTOR)."""
    ds_cpu = sum(cpu for s, cpu, _ in specs if s.kind == "daemonset") * CPU_LIMIT_FACTOR
    ds_ram = sum(ram for s, _, ram in specs if s.kind == "daemonset") * RAM_LIMIT_FACTOR
    counts = []
    for g in GROUPS:
        members = [(s, c, r) for s, c, r in specs if s.group == g.name]
        if not members and g.name != "general":
            counts.append(0)
            continue
        cpu = sum(s.replicas[1] * (c + _sidecar(s)[0]) for s, c, _ in members)
        ram = sum(s.replicas[1] * (r + _sidecar(s)[1]) for s, _, r in members)
        cpu *= TREND_MAX * CPU_LIMIT_FACTOR
        ram *= TREND_MAX * RAM_LIMIT_FACTOR
        gpus = sum(s.replicas[1] * s.gpus for s, _, _ in members)
        usable_cpu = g.cpu_cores * _NODE_HEADROOM - ds_cpu * TREND_MAX
        usable_ram = g.ram_gib * GIB * _NODE_HEADROOM - ds_ram * TREND_MAX
        n = max(g.min_nodes, math.ceil(cpu / usable_cpu), math.ceil(ram / usable_ram))
        if g.gpus:
            n = max(n, math.ceil(gpus / g.gpus))
        counts.append(n)
    return counts


def _pick_services(seed: int, index: int, count: int) -> list[tuple[ServiceSpec, str]]:
    """The first `count` services of a per-cluster rotation of the catalogue, repeats suffixed."""
    services = catalog.SERVICES
    offset = stable_hash(seed, index, "rotation") % len(services)
    out = []
    for i in range(count):
        spec = services[(offset + i) % len(services)]
        lap = i // len(services)
        out.append((spec, spec.name if lap == 0 else f"{spec.name}-{lap + 1}"))
    return out


def _node_labels(
    flavor: Flavor,
    group: str,
    name: str,
    itype: str,
    zone: str,
    full_id: str,
    spot: bool,
    gpus: int,
) -> dict[str, str]:
    raw_labels: dict[str, str] = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": itype,
        "beta.kubernetes.io/os": "linux",
        flavor.group_label: group,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": itype,
        "topology.kubernetes.io/region": flavor.region,
        "topology.kubernetes.io/zone": zone,
        "providerID": full_id,
    }
    raw_labels.update(dict(flavor.extra_labels))
    if flavor.name == "karpenter":
        raw_labels["karpenter.sh/capacity-type"] = "spot" if spot else "on-demand"
    if flavor.name == "aks":
        raw_labels["agentpool"] = group
    if gpus:
        raw_labels["nvidia.com/gpu.present"] = "true"
    return {sanitize_label(k): v for k, v in sorted(raw_labels.items())}


def _make_node(
    seed: int,
    flavor: Flavor,
    cluster: str,
    gi: int,
    seq: int,
    seen: set[str],
    index: int,
    spot: bool,
) -> Node:
    """Node `seq` of group `gi`; names come from hashes, rehashed on the (unlikely) collision so
    that two nodes never merge."""
    g = GROUPS[gi]
    salt = 0
    while (nname := _node_name(flavor, cluster, g.name, seq, seed, salt)) in seen:
        salt += 1
    seen.add(nname)
    h = stable_hash(seed, nname)
    short_id, full_id = _provider_id(flavor, nname, seq, h)
    zone = flavor.zones[seq % len(flavor.zones)]
    itype = flavor.instance_types[gi]
    cpu_price = g.cpu_price * flavor.price_factor
    ram_price = g.ram_price * flavor.price_factor
    gpu_price = g.gpu_price * flavor.price_factor
    return Node(
        index=index,
        name=nname,
        group=g.name,
        group_index=gi,
        instance_type=itype,
        zone=zone,
        provider_id=short_id,
        labels=_node_labels(flavor, g.name, nname, itype, zone, full_id, spot, g.gpus),
        preemptible=spot,
        cpu_cores=g.cpu_cores,
        ram_bytes=g.ram_gib * GIB,
        gpus=g.gpus,
        cpu_price=cpu_price,
        ram_price=ram_price / GIB,
        gpu_price=gpu_price,
        cpu_units=_units(g.cpu_cores * cpu_price),
        ram_units=_units(g.ram_gib * ram_price),
        gpu_units=_units(g.gpus * gpu_price),
        asset_key=f"{_asset_prefix(flavor, 'Compute', cluster, 'Node')}/{short_id}/{nname}",
    )


def _churn_nodes(
    seed: int,
    flavor: Flavor,
    cluster: str,
    counts: list[int],
    seen: set[str],
    first: int,
    hour: int,
) -> list[Node]:
    """The two nodes of `SimConfig.node_churn`: a spot node of the general group that no pod
    runs on, and a node of the memory group relabelled into the general group at `hour`.

    Neither joins a group's placement pool, so no workload pod lands on them and the other
    nodes' pods stay where they were; only the mover takes DaemonSet pods.
    """
    general, memory = GROUP_INDEX["general"], GROUP_INDEX["memory"]
    spare = _make_node(seed, flavor, cluster, general, counts[general], seen, first, spot=True)
    spare = replace(spare, hosts_pods=False)
    mover = _make_node(seed, flavor, cluster, memory, counts[memory], seen, first + 1, spot=False)
    full_id = mover.labels["providerID"]
    moved = _node_labels(
        flavor, "general", mover.name, mover.instance_type, mover.zone, full_id, False, mover.gpus
    )
    return [spare, replace(mover, move_hour=hour, moved_group="general", moved_labels=moved)]


@lru_cache(maxsize=256)
def build_cluster(seed: int, index: int, workloads: int, churn_hour: int | None = None) -> Cluster:
    """Derive cluster `index` of a simulation; pure, cached.

    `churn_hour` (an hour index) adds the two nodes of `SimConfig.node_churn`; without it the
    cluster is exactly what it always was for this seed.
    """
    name = cluster_name(index)
    flavor = catalog.FLAVORS[index % len(catalog.FLAVORS)]
    ckey = stable_hash(seed, name)
    picked = _pick_services(seed, index, workloads)
    # Per-workload size jitter, so repeats and clusters are not carbon copies.
    sized: list[tuple[ServiceSpec, str, float, float]] = []
    for spec, wname in picked:
        h = stable_hash(seed, name, wname, "size")
        scale = 0.7 + 0.7 * unit(h)
        sized.append((spec, wname, spec.cpu * scale, spec.ram_gib * GIB * scale))
    counts = _node_counts([(s, c, r) for s, _, c, r in sized])

    seen: set[str] = set()
    nodes: list[Node] = []
    for gi, g in enumerate(GROUPS):
        for seq in range(counts[gi]):
            spot = flavor.spot_general and g.name == "general"
            nodes.append(_make_node(seed, flavor, name, gi, seq, seen, len(nodes), spot))
    regular = len(nodes)
    if churn_hour is not None:
        nodes.extend(_churn_nodes(seed, flavor, name, counts, seen, len(nodes), churn_hour))
    by_group: dict[str, list[Node]] = {g.name: [] for g in GROUPS}
    for node in nodes[:regular]:
        by_group[node.group].append(node)
    cursor = {
        g.name: stable_hash(seed, name, g.name, "cursor") % max(1, len(by_group[g.name]))
        for g in GROUPS
    }

    built: list[Workload] = []
    volumes: list[Volume] = []
    lbs: list[LoadBalancer] = []
    for spec, wname, cpu_req, ram_req in sized:
        wkey = stable_hash(seed, name, spec.namespace, spec.kind, wname)
        owners = catalog.TEAM_OWNERS[spec.team]
        owner = owners[wkey % len(owners)]
        ns_labels = {
            "kubernetes_io_metadata_name": spec.namespace,
            "team": catalog.NAMESPACE_TEAM[spec.namespace],
        }
        lb: LoadBalancer | None = None
        if spec.load_balancer and spec.kind in ("deployment", "statefulset"):
            lb_name = f"{spec.namespace}/{wname}"
            lh = stable_hash(seed, name, "lb", lb_name)
            ip = f"{34 + lh % 20}.{(lh >> 8) % 256}.{(lh >> 16) % 256}.{(lh >> 24) % 253 + 1}"
            lb = LoadBalancer(
                name=lb_name,
                ip=ip,
                units_per_hour=_units(catalog.LB_PRICE_PER_HOUR * flavor.price_factor),
                asset_key=(
                    f"{_asset_prefix(flavor, 'Network', name, 'LoadBalancer')}/{ip}/{lb_name}"
                ),
            )
            lbs.append(lb)

        if spec.kind == "daemonset":
            placements = [n for n in nodes if n.hosts_pods]
        else:
            pool = by_group[spec.group]
            placements = []
            for _ in range(spec.replicas[1]):
                placements.append(pool[cursor[spec.group] % len(pool)])
                cursor[spec.group] += 1

        rs_hash = k8s_suffix(10, seed, name, wname, "rs")
        pods: list[Pod] = []
        for ordinal, node in enumerate(placements):
            if spec.kind == "statefulset":
                pname = f"{wname}-{ordinal}"
            elif spec.kind == "deployment":
                pname = f"{wname}-{rs_hash}-{k8s_suffix(5, seed, name, wname, ordinal)}"
            else:
                pname = f"{wname}-{k8s_suffix(5, seed, name, wname, ordinal)}"
            pod_labels: dict[str, str] = {
                "app": wname,
                "app_kubernetes_io_name": wname,
                "app_kubernetes_io_part_of": spec.namespace,
                "env": "production",
                "owner": owner,
                "team": spec.team,
            }
            if spec.kind == "deployment":
                pod_labels["pod_template_hash"] = rs_hash
            elif spec.kind == "statefulset":
                pod_labels["statefulset_kubernetes_io_pod_name"] = pname
            elif spec.kind == "job":
                pod_labels["job_name"] = wname
                pod_labels["batch_kubernetes_io_job_name"] = wname
            else:
                pod_labels["pod_template_generation"] = "1"
            volume: Volume | None = None
            if spec.pv_gib and spec.kind == "statefulset":
                vh = stable_hash(seed, name, "pv", pname)
                vname = f"pvc-{uuid.UUID(int=vh << 64 | stable_hash(vh), version=4)}"
                vbytes = spec.pv_gib * GIB
                volume = Volume(
                    name=vname,
                    claim=f"data-{pname}",
                    namespace=spec.namespace,
                    bytes=vbytes,
                    units_per_hour=_units(
                        spec.pv_gib * catalog.PV_PRICE_PER_GIB_HOUR * flavor.price_factor
                    ),
                    fill=0.3 + 0.5 * unit(vh),
                    pvs_key=f"cluster={name}:name={vname}",
                    asset_key=f"{_asset_prefix(flavor, 'Storage', name, 'Disk')}/{vname}/{vname}",
                    storage_class="gp3" if flavor.provider == "AWS" else "standard-rwo",
                )
                volumes.append(volume)
            shapes = [(wname, True, cpu_req, ram_req, spec.gpus)]
            if spec.sidecar:
                shapes.append(
                    (
                        catalog.SIDECAR_NAME,
                        False,
                        catalog.SIDECAR_CPU,
                        catalog.SIDECAR_RAM_GIB * GIB,
                        0,
                    )
                )
            containers = []
            for cname, primary, c_cpu, c_ram, c_gpus in shapes:
                props: dict[str, Any] = {
                    "cluster": name,
                    "node": node.name,
                    "container": cname,
                    "controller": wname,
                    "controllerKind": spec.kind,
                    "namespace": spec.namespace,
                    "pod": pname,
                }
                if spec.kind in ("deployment", "statefulset"):
                    props["services"] = [wname]
                props["providerID"] = node.provider_id
                props["labels"] = pod_labels
                props["namespaceLabels"] = ns_labels
                gpu_meta = None
                if c_gpus:
                    gh = stable_hash(seed, node.name, "gpu")
                    gpu_meta = (
                        "nvidia0",
                        flavor.gpu_model,
                        f"GPU-{uuid.UUID(int=gh << 64 | stable_hash(gh))}",
                    )
                containers.append(
                    Container(
                        name=cname,
                        key=stable_hash(seed, name, pname, cname),
                        primary=primary,
                        cpu_req=c_cpu,
                        ram_req=c_ram,
                        gpus=c_gpus,
                        props=props,
                        full_name=f"{name}/{node.name}/{spec.namespace}/{pname}/{cname}",
                        gpu_meta=gpu_meta,
                    )
                )
            pods.append(Pod(pname, ordinal, node, tuple(containers), volume))

        amp = spec.amplitude
        dip = spec.weekend_dip
        built.append(
            Workload(
                name=wname,
                namespace=spec.namespace,
                kind=spec.kind,
                service=wname,
                team=spec.team,
                owner=owner,
                key=wkey,
                pods=tuple(pods),
                min_replicas=spec.replicas[0],
                max_replicas=spec.replicas[1],
                amplitude=amp,
                weekend_dip=dip,
                tz_shift=(0, 0, 5, -3, 8)[wkey % 5],
                cpu_util=0.35 + 0.55 * unit(stable_hash(wkey, "cpu")),
                ram_util=0.5 + 0.4 * unit(stable_hash(wkey, "ram")),
                gpu_util=0.3 + 0.6 * unit(stable_hash(wkey, "gpu")),
                egress_bytes=spec.egress_gib * GIB * (0.5 + unit(stable_hash(wkey, "net"))),
                internet_share=0.3 if lb else 0.02,
                load_balancer=lb,
                job_start=(spec.job_start + wkey % 3) % 24,
                job_hours=spec.job_hours,
                job_every_days=spec.job_every_days,
                job_phase=wkey % max(1, spec.job_every_days),
                load_lo=(1.0 - amp) * (1.0 - dip),
                load_hi=1.0 + amp,
            )
        )

    ng = len(GROUPS)
    return Cluster(
        index=index,
        name=name,
        key=ckey,
        flavor=flavor,
        growth_per_year=0.08 + 0.12 * unit(stable_hash(ckey, "growth")),
        nodes=tuple(nodes),
        workloads=tuple(built),
        volumes=tuple(volumes),
        load_balancers=tuple(lbs),
        group_cpu_units=tuple(
            sum(n.cpu_units for n in nodes if n.group_index == i) for i in range(ng)
        ),
        group_ram_units=tuple(
            sum(n.ram_units for n in nodes if n.group_index == i) for i in range(ng)
        ),
        group_gpu_units=tuple(
            sum(n.gpu_units for n in nodes if n.group_index == i) for i in range(ng)
        ),
        group_cores=tuple(
            float(sum(n.cpu_cores for n in nodes if n.group_index == i)) for i in range(ng)
        ),
        group_ram_bytes=tuple(
            float(sum(n.ram_bytes for n in nodes if n.group_index == i)) for i in range(ng)
        ),
        group_gpus=tuple(
            float(sum(n.gpus for n in nodes if n.group_index == i)) for i in range(ng)
        ),
        idle_props={"cluster": name},
    )


def group_label_key(flavor: Flavor) -> str:
    """The sanitised node-group label key nodes of this flavour carry."""
    return sanitize_label(flavor.group_label)


__all__ = [
    "Cluster",
    "Container",
    "LoadBalancer",
    "Node",
    "Pod",
    "Volume",
    "Workload",
    "build_cluster",
    "cluster_name",
    "group_label_key",
    "sanitize_label",
]
