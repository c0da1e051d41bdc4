"""Deterministic Kubecost/OpenCost data: allocations and assets for any past hour.

Why it is built this way:
- Every value is a pure function of (seed, cluster, workload, container, hour) through
  counter-based hashing (see `hashing`), so one hour of one cluster can be produced alone, in
  any order, and identically every time; a benchmark can ask for a year, a test for one hour.
- Money is computed once per container-hour, rounded to an integer number of 1e-5 currency
  units (Kubecost's 5 decimals), and from then on only ever added as integers. Aggregation
  (pod -> namespace -> cluster), accumulation over hours, idle and `totalCost` are therefore
  exact, and the emitted float `units / 100000` always prints as that 5-decimal value.
- Resource quantities (core-hours, bytes) are not money and are plain floats.
- Idle is node capacity cost minus allocated cost per node group, so for every hour
  sum(node asset cpu+ram+gpu cost) == sum(allocation cpu+ram+gpu cost) + idle, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from services.kubecost_sim import catalog
from services.kubecost_sim.catalog import GIB, GROUPS
from services.kubecost_sim.hashing import MASK64, mix64
from services.kubecost_sim.topology import (
    CPU_LIMIT_FACTOR,
    RAM_LIMIT_FACTOR,
    Cluster,
    Container,
    LoadBalancer,
    Node,
    Volume,
    build_cluster,
    cluster_name,
    sanitize_label,
)

__all__ = [
    "AGGREGATIONS",
    "IDLE",
    "UNALLOCATED",
    "AssetTotals",
    "SimConfig",
    "allocation_set",
    "allocation_window",
    "asset_ground_truth",
    "asset_set",
    "asset_window",
    "available_hours",
    "check_aggregate",
    "cluster_name",
    "ground_truth_total",
    "hour_is_available",
    "topology",
]

IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
_HOUR = 3600
_COS = tuple(math.cos(2.0 * math.pi * (h - 14) / 24.0) for h in range(24))
_CZ_SHARE = 0.6
_CR_SHARE = 0.05


@dataclass(frozen=True)
class SimConfig:
    """Parameters of a simulation; equal configs always produce byte-identical data.

    `now` pins the clock that decides which hours exist yet (None: the wall clock), so tests
    and demos can be reproducible even at the edge of the present. `fail_clusters` makes the
    HTTP server answer 500 for those cluster indices, to exercise collector retries.
    `node_churn` (an hour start) gives every cluster two more nodes, for the node-group bill:
    a spot node of the general group that no pod runs on, and a node of the memory group that
    is relabelled into the general group from that hour on. Unset, clusters are what they
    always were for the seed.
    """

    seed: int = 42
    clusters: int = 3
    workloads_per_cluster: int = 40
    fail_clusters: frozenset[int] = field(default_factory=frozenset)
    now: datetime | None = None
    node_churn: datetime | None = None

    def __post_init__(self) -> None:
        if self.clusters < 1:
            raise ValueError("clusters must be >= 1")
        if self.workloads_per_cluster < 1:
            raise ValueError("workloads_per_cluster must be >= 1")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.node_churn is not None:
            _hour_index(self.node_churn, what="node_churn")

    def current_time(self) -> datetime:
        """The simulation's present."""
        return self.now if self.now is not None else datetime.now(UTC)


def topology(config: SimConfig, cluster_index: int) -> Cluster:
    """The static description of one cluster (nodes, workloads, pods), cached."""
    _check_cluster(config, cluster_index)
    churn = None if config.node_churn is None else _hour_index(config.node_churn, what="node_churn")
    return build_cluster(config.seed, cluster_index, config.workloads_per_cluster, churn)


def _check_cluster(config: SimConfig, cluster_index: int) -> None:
    if not 0 <= cluster_index < config.clusters:
        raise ValueError(f"cluster index {cluster_index} out of range 0..{config.clusters - 1}")


# --------------------------------------------------------------------------------------------
# Hourly records
# --------------------------------------------------------------------------------------------


class _Rec:
    """One allocation being built: a container-hour, or a sum of them.

    Money fields are integers in 1e-5 units; `*_h` fields are quantity-hours. `spec` is the
    container a base record came from (None for idle); only base records are ever keyed.
    """

    __slots__ = (
        "cpu",
        "cpu_h",
        "cpu_lim_h",
        "cpu_req_h",
        "cpu_use_h",
        "cr",
        "cz",
        "end",
        "gpu",
        "gpu_h",
        "gpu_meta",
        "gpu_use_h",
        "inet",
        "lb",
        "lbs",
        "props",
        "pv",
        "pv_h",
        "pvs",
        "ram",
        "ram_h",
        "ram_lim_h",
        "ram_req_h",
        "ram_use_h",
        "rx",
        "spec",
        "start",
        "tx",
    )

    spec: Container | None
    props: dict[str, Any]
    start: int
    end: int
    cpu_h: float
    cpu_req_h: float
    cpu_use_h: float
    cpu_lim_h: float
    ram_h: float
    ram_req_h: float
    ram_use_h: float
    ram_lim_h: float
    gpu_h: float
    gpu_use_h: float
    pv_h: float
    tx: float
    rx: float
    cpu: int
    ram: int
    gpu: int
    pv: int
    cz: int
    cr: int
    inet: int
    lb: int
    pvs: dict[str, tuple[float, int]] | None
    lbs: dict[tuple[str, str], int] | None
    gpu_meta: tuple[str, str, str] | None

    def total(self) -> int:
        return self.cpu + self.ram + self.gpu + self.pv + self.cz + self.cr + self.inet + self.lb

    def merge(self, o: _Rec) -> None:
        """Add `o` into self; properties keep only what both share, as Kubecost does."""
        if o.start < self.start:
            self.start = o.start
        if o.end > self.end:
            self.end = o.end
        self.cpu_h += o.cpu_h
        self.cpu_req_h += o.cpu_req_h
        self.cpu_use_h += o.cpu_use_h
        self.cpu_lim_h += o.cpu_lim_h
        self.ram_h += o.ram_h
        self.ram_req_h += o.ram_req_h
        self.ram_use_h += o.ram_use_h
        self.ram_lim_h += o.ram_lim_h
        self.gpu_h += o.gpu_h
        self.gpu_use_h += o.gpu_use_h
        self.pv_h += o.pv_h
        self.tx += o.tx
        self.rx += o.rx
        self.cpu += o.cpu
        self.ram += o.ram
        self.gpu += o.gpu
        self.pv += o.pv
        self.cz += o.cz
        self.cr += o.cr
        self.inet += o.inet
        self.lb += o.lb
        if o.pvs is not None:
            self.pvs = _merge_pvs(self.pvs, o.pvs)
        if o.lbs is not None:
            self.lbs = _merge_lbs(self.lbs, o.lbs)
        if self.gpu_meta != o.gpu_meta:
            self.gpu_meta = None if self.gpu_h and o.gpu_h else (self.gpu_meta or o.gpu_meta)
        if self.props is not o.props:
            self.props = _intersect(self.props, o.props)


def _merge_pvs(
    a: dict[str, tuple[float, int]] | None, b: dict[str, tuple[float, int]]
) -> dict[str, tuple[float, int]]:
    out = dict(a) if a else {}
    for k, (bh, units) in b.items():
        prev = out.get(k)
        out[k] = (bh, units) if prev is None else (prev[0] + bh, prev[1] + units)
    return out


def _merge_lbs(
    a: dict[tuple[str, str], int] | None, b: dict[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    out = dict(a) if a else {}
    for k, units in b.items():
        out[k] = out.get(k, 0) + units
    return out


def _intersect(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in a.items():
        w = b.get(k)
        if w is None:
            continue
        if k in ("labels", "namespaceLabels"):
            if v is w:
                out[k] = v
            else:
                common = {lk: lv for lk, lv in v.items() if w.get(lk) == lv}
                if common:
                    out[k] = common
        elif v == w:
            out[k] = v
    return out


@dataclass(slots=True)
class _Hour:
    """One hour of one cluster: base records plus per-node allocated quantities for assets."""

    records: list[_Rec]
    node_cpu: list[float]
    node_ram: list[float]


def _new_rec(spec: Container | None, props: dict[str, Any], start: int) -> _Rec:
    r = _Rec()
    r.spec = spec
    r.props = props
    r.start = start
    r.end = start + _HOUR
    r.cpu_h = r.cpu_req_h = r.cpu_use_h = r.cpu_lim_h = 0.0
    r.ram_h = r.ram_req_h = r.ram_use_h = r.ram_lim_h = 0.0
    r.gpu_h = r.gpu_use_h = r.pv_h = r.tx = r.rx = 0.0
    r.cpu = r.ram = r.gpu = r.pv = r.cz = r.cr = r.inet = r.lb = 0
    r.pvs = None
    r.lbs = None
    r.gpu_meta = None
    return r


def _job_runs(hour: int, start: int, hours: int, every: int, phase: int, key: int) -> bool:
    offset = (hour % 24 - start) % 24
    if offset >= hours:
        return False
    run_day = (hour - offset) // 24
    # Every run day that matches the cadence, except ~5% skipped (failed/suspended runs).
    return run_day % every == phase and mix64(key ^ run_day) % 20 != 0


def _generate_hour(topo: Cluster, hour: int, include_idle: bool) -> _Hour:
    """All container-hour records of one cluster-hour (plus idle), from scratch."""
    start = hour * _HOUR
    hmix = mix64((hour * 0x9E3779B97F4A7C15 & MASK64) ^ topo.key)
    trend = topo.trend(hour)
    hod = hour % 24
    weekend = (hour // 24 + 3) % 7 >= 5
    ng = len(GROUPS)
    a_cpu = [0] * ng
    a_ram = [0] * ng
    a_gpu = [0] * ng
    a_cores = [0.0] * ng
    a_bytes = [0.0] * ng
    a_gpus = [0.0] * ng
    node_cpu = [0.0] * len(topo.nodes)
    node_ram = [0.0] * len(topo.nodes)
    records: list[_Rec] = []
    for wl in topo.workloads:
        lf = 1.0 + wl.amplitude * _COS[(hod - wl.tz_shift) % 24]
        if weekend:
            lf *= 1.0 - wl.weekend_dip
        pods = wl.pods
        kind = wl.kind
        if kind == "deployment":
            span = wl.load_hi - wl.load_lo
            frac = (lf - wl.load_lo) / span if span > 0 else 0.0
            n = wl.min_replicas + int(frac * (wl.max_replicas - wl.min_replicas + 1))
            pods = pods[: max(wl.min_replicas, min(wl.max_replicas, n))]
        elif kind == "job" and not _job_runs(
            hour, wl.job_start, wl.job_hours, wl.job_every_days, wl.job_phase, wl.key
        ):
            continue
        lb: LoadBalancer | None = wl.load_balancer
        lb_share, lb_rem = divmod(lb.units_per_hour, len(pods)) if lb else (0, 0)
        ram_swing = 1.0 + 0.25 * (lf - 1.0)
        for k, pod in enumerate(pods):
            node: Node = pod.node
            gi = node.group_index
            for c in pod.containers:
                r = mix64(c.key ^ hmix)
                u1 = (r & 0xFFFF) / 65536.0
                u2 = ((r >> 16) & 0xFFFF) / 65536.0
                u3 = ((r >> 32) & 0xFFFF) / 65536.0
                u4 = (r >> 48) / 65536.0
                cpu_req = c.cpu_req * trend
                cpu_lim = cpu_req * CPU_LIMIT_FACTOR
                cpu_use = cpu_req * wl.cpu_util * lf * (0.85 + 0.3 * u1)
                if cpu_use > cpu_lim:
                    cpu_use = cpu_lim
                cores = cpu_use if cpu_use > cpu_req else cpu_req
                ram_req = c.ram_req * trend
                ram_lim = ram_req * RAM_LIMIT_FACTOR
                ram_use = ram_req * wl.ram_util * ram_swing * (0.9 + 0.2 * u2)
                if ram_use > ram_lim:
                    ram_use = ram_lim
                ram = ram_use if ram_use > ram_req else ram_req
                rec = _new_rec(c, c.props, start)
                rec.cpu_h = cores
                rec.cpu_req_h = cpu_req
                rec.cpu_use_h = cpu_use
                rec.cpu_lim_h = cpu_lim
                rec.ram_h = ram
                rec.ram_req_h = ram_req
                rec.ram_use_h = ram_use
                rec.ram_lim_h = ram_lim
                rec.cpu = cpu_u = round(cores * node.cpu_price * 100_000)
                rec.ram = ram_u = round(ram * node.ram_price * 100_000)
                if c.gpus:
                    use = wl.gpu_util * lf * (0.8 + 0.4 * u3)
                    rec.gpu_h = float(c.gpus)
                    rec.gpu_use_h = c.gpus * (use if use < 1.0 else 1.0)
                    rec.gpu = round(c.gpus * node.gpu_price * 100_000)
                    rec.gpu_meta = c.gpu_meta
                    a_gpu[gi] += rec.gpu
                    a_gpus[gi] += rec.gpu_h
                if c.primary:
                    tx = wl.egress_bytes * lf * (0.7 + 0.6 * u4)
                    gib = tx / GIB
                    rec.tx = tx
                    rec.rx = tx * (0.8 + 0.5 * u3)
                    rec.cz = round(gib * _CZ_SHARE * catalog.CROSS_ZONE_PRICE_PER_GIB * 100_000)
                    rec.cr = round(gib * _CR_SHARE * catalog.CROSS_REGION_PRICE_PER_GIB * 100_000)
                    rec.inet = round(
                        gib * wl.internet_share * catalog.INTERNET_PRICE_PER_GIB * 100_000
                    )
                    vol: Volume | None = pod.volume
                    if vol is not None:
                        rec.pv_h = float(vol.bytes)
                        rec.pv = vol.units_per_hour
                        rec.pvs = {vol.pvs_key: (float(vol.bytes), vol.units_per_hour)}
                    if lb is not None:
                        rec.lb = lb_share + (1 if k < lb_rem else 0)
                        rec.lbs = {(lb.name, lb.ip): rec.lb}
                a_cpu[gi] += cpu_u
                a_ram[gi] += ram_u
                a_cores[gi] += cores
                a_bytes[gi] += ram
                node_cpu[node.index] += cores
                node_ram[node.index] += ram
                records.append(rec)
    if include_idle:
        idle = _new_rec(None, topo.idle_props, start)
        for gi in range(ng):
            # Nodes are sized for the busiest possible hour (see topology), so these never go
            # negative; the clamp only guards against a future change of that sizing.
            idle.cpu += max(0, topo.group_cpu_units[gi] - a_cpu[gi])
            idle.ram += max(0, topo.group_ram_units[gi] - a_ram[gi])
            idle.gpu += max(0, topo.group_gpu_units[gi] - a_gpu[gi])
            idle.cpu_h += max(0.0, topo.group_cores[gi] - a_cores[gi])
            idle.ram_h += max(0.0, topo.group_ram_bytes[gi] - a_bytes[gi])
            idle.gpu_h += max(0.0, topo.group_gpus[gi] - a_gpus[gi])
        records.append(idle)
    return _Hour(records, node_cpu, node_ram)


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------


def _hour_index(t: datetime, *, what: str) -> int:
    if t.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    ts = int(t.timestamp())
    if ts % _HOUR or t.microsecond:
        raise ValueError(f"{what} must be aligned to a whole hour: {t.isoformat()}")
    return ts // _HOUR


def _first_hour(t: datetime) -> int:
    """Index of the hour containing `t` (window starts are floored)."""
    if t.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    return math.floor(t.timestamp() / _HOUR)


def _end_hour(t: datetime) -> int:
    """Exclusive hour index covering `t` (window ends are ceiled)."""
    if t.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    return math.ceil(t.timestamp() / _HOUR)


def hour_is_available(config: SimConfig, hour_start: datetime) -> bool:
    """Whether a live Kubecost would have data for the hour starting at `hour_start`.

    An hour exists once it has started; the in-progress hour is reported in full (a real
    Kubecost would report it partially), so a value never changes once it can be observed.
    """
    return hour_start < config.current_time()


def available_hours(config: SimConfig, start: datetime, end: datetime) -> Iterator[int]:
    """Hour indices of [start, end), widened to whole hours, that have data yet."""
    first = _first_hour(start)
    last = _end_hour(end)
    now_ts = config.current_time().timestamp()
    for h in range(first, last):
        if h * _HOUR >= now_ts:
            return
        yield h


@lru_cache(maxsize=65_536)
def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------

_KeyFn = Callable[[Container], str]


def _label_key(label: str) -> _KeyFn:
    key = sanitize_label(label)

    def get(c: Container) -> str:
        value: str | None = c.props["labels"].get(key)
        return value if value else UNALLOCATED

    return get


def _kind_key(kind: str) -> _KeyFn:
    def get(c: Container) -> str:
        return str(c.props["controller"]) if c.props["controllerKind"] == kind else UNALLOCATED

    return get


def _service_key(c: Container) -> str:
    services: list[str] | None = c.props.get("services")
    return services[0] if services else UNALLOCATED


_SIMPLE_KEYS: dict[str, _KeyFn] = {
    "cluster": lambda c: str(c.props["cluster"]),
    "node": lambda c: str(c.props["node"]),
    "namespace": lambda c: str(c.props["namespace"]),
    "controllerKind": lambda c: str(c.props["controllerKind"]),
    "controller": lambda c: f"{c.props['controllerKind']}:{c.props['controller']}",
    "pod": lambda c: str(c.props["pod"]),
    "container": lambda c: c.full_name,
    "service": _service_key,
    "deployment": _kind_key("deployment"),
    "statefulset": _kind_key("statefulset"),
    "daemonset": _kind_key("daemonset"),
    "job": _kind_key("job"),
    # Kubecost maps these to configurable label names; ours are the defaults.
    "team": _label_key("team"),
    "owner": _label_key("owner"),
    "department": _label_key("department"),
    "environment": _label_key("env"),
    "product": _label_key("app"),
}

AGGREGATIONS: tuple[str, ...] = (*_SIMPLE_KEYS, "label:<name>")


def _key_function(aggregate: str) -> _KeyFn:
    """Allocation name for a base record, Kubecost-style; multiple keys join with '/'."""
    parts = [p.strip() for p in aggregate.split(",")] if aggregate else ["pod"]
    fns: list[_KeyFn] = []
    for p in parts:
        if p in _SIMPLE_KEYS:
            fns.append(_SIMPLE_KEYS[p])
        elif p.startswith("label:") and len(p) > len("label:"):
            fns.append(_label_key(p[len("label:") :]))
        else:
            raise ValueError(f"unsupported aggregation: {p!r}")
    if len(fns) == 1:
        return fns[0]
    return lambda c: "/".join(f(c) for f in fns)


def check_aggregate(aggregate: str) -> None:
    """Raise ValueError if `aggregate` is not an aggregation the simulator supports."""
    _key_function(aggregate)


def _accumulate(
    topo: Cluster, hours: Iterator[int] | list[int], keyfn: _KeyFn, include_idle: bool
) -> dict[str, _Rec]:
    out: dict[str, _Rec] = {}
    for h in hours:
        for rec in _generate_hour(topo, h, include_idle).records:
            name = IDLE if rec.spec is None else keyfn(rec.spec)
            cur = out.get(name)
            if cur is None:
                out[name] = rec
            else:
                cur.merge(rec)
    return out


# --------------------------------------------------------------------------------------------
# Emission
# --------------------------------------------------------------------------------------------


_SCALE = 100_000


def _money(units: int) -> float:
    """Exact: a correctly rounded int/1e5 always prints as its 5-decimal value."""
    return units / _SCALE


def _r5(x: float) -> float:
    return round(x, 5)


def _ratio(num: float, den: float) -> float:
    """Kubecost's efficiency convention: usage without a request counts as fully efficient."""
    if den > 0:
        return int(num / den * 1e5 + 0.5) / 1e5
    return 1.0 if num > 0 else 0.0


def _copy_props(props: dict[str, Any]) -> dict[str, Any]:
    """Callers may mutate what they get; the shared topology dicts must not change."""
    out = dict(props)
    for k in ("labels", "namespaceLabels"):
        if k in out:
            out[k] = dict(out[k])
    if "services" in out:
        out["services"] = list(out["services"])
    return out


def _emit_allocation(name: str, rec: _Rec, window: dict[str, str]) -> dict[str, Any]:
    # Hot path (a year of hours is millions of calls): quantities are rounded inline with
    # int(x * 1e5 + 0.5) / 1e5 (all are >= 0), several times cheaper than round(x, 5).
    hours = (rec.end - rec.start) / _HOUR
    inv = 1.0 / hours
    network = rec.cz + rec.cr + rec.inet
    cpu_cost = rec.cpu
    ram_cost = rec.ram
    cpu_h = rec.cpu_h
    ram_h = rec.ram_h
    gpu_h = rec.gpu_h
    cpu_eff = _ratio(rec.cpu_use_h, rec.cpu_req_h)
    ram_eff = _ratio(rec.ram_use_h, rec.ram_req_h)
    if cpu_cost + ram_cost > 0:
        cpu_rate = cpu_cost / cpu_h if cpu_h else 0.0
        ram_rate = ram_cost / ram_h if ram_h else 0.0
        total_eff = _ratio(
            rec.cpu_use_h * cpu_rate + rec.ram_use_h * ram_rate, float(cpu_cost + ram_cost)
        )
    else:
        total_eff = 0.0
    pvs: dict[str, Any] | None = None
    if rec.pvs:
        pvs = {
            k: {
                "byteHours": _r5(bh),
                "cost": units / _SCALE,
                "providerID": k.rsplit("=", 1)[1],
                "adjustment": 0.0,
            }
            for k, (bh, units) in rec.pvs.items()
        }
    lbs: dict[str, Any] | None = None
    if rec.lbs:
        lbs = {
            svc: {"service": svc, "cost": units / _SCALE, "private": False, "ip": ip}
            for (svc, ip), units in rec.lbs.items()
        }
    gpu_count = int(gpu_h * inv * 1e5 + 0.5) / 1e5
    gpu_use_avg = int(rec.gpu_use_h * inv * 1e5 + 0.5) / 1e5
    gpu_alloc: dict[str, Any] | None = None
    if rec.gpu_meta is not None and gpu_h:
        gpu_alloc = {
            "gpuDevice": rec.gpu_meta[0],
            "gpuModel": rec.gpu_meta[1],
            "gpuUUID": rec.gpu_meta[2],
            "isGPUShared": False,
            "gpuUsageAverage": gpu_use_avg,
            "gpuRequestAverage": gpu_count,
        }
    return {
        "name": name,
        "properties": _copy_props(rec.props),
        "window": dict(window),
        "start": _iso(rec.start),
        "end": _iso(rec.end),
        "minutes": hours * 60.0,
        "cpuCores": int(cpu_h * inv * 1e5 + 0.5) / 1e5,
        "cpuCoreRequestAverage": int(rec.cpu_req_h * inv * 1e5 + 0.5) / 1e5,
        "cpuCoreLimitAverage": int(rec.cpu_lim_h * inv * 1e5 + 0.5) / 1e5,
        "cpuCoreUsageAverage": int(rec.cpu_use_h * inv * 1e5 + 0.5) / 1e5,
        "cpuCoreHours": int(cpu_h * 1e5 + 0.5) / 1e5,
        "cpuCost": cpu_cost / _SCALE,
        "cpuCostAdjustment": 0.0,
        "cpuEfficiency": cpu_eff,
        "gpuCount": gpu_count,
        "gpuRequestAverage": gpu_count,
        "gpuUsageAverage": gpu_use_avg,
        "gpuHours": int(gpu_h * 1e5 + 0.5) / 1e5,
        "gpuCost": rec.gpu / _SCALE,
        "gpuCostAdjustment": 0.0,
        "gpuEfficiency": _ratio(rec.gpu_use_h, gpu_h) if gpu_h else 0.0,
        "networkTransferBytes": int(rec.tx * 1e5 + 0.5) / 1e5,
        "networkReceiveBytes": int(rec.rx * 1e5 + 0.5) / 1e5,
        "networkCost": network / _SCALE,
        "networkCrossZoneCost": rec.cz / _SCALE,
        "networkCrossRegionCost": rec.cr / _SCALE,
        "networkInternetCost": rec.inet / _SCALE,
        "networkCostAdjustment": 0.0,
        "loadBalancerCost": rec.lb / _SCALE,
        "loadBalancerCostAdjustment": 0.0,
        "pvBytes": int(rec.pv_h * inv * 1e5 + 0.5) / 1e5,
        "pvByteHours": int(rec.pv_h * 1e5 + 0.5) / 1e5,
        "pvCost": rec.pv / _SCALE,
        "pvs": pvs,
        "pvCostAdjustment": 0.0,
        "ramBytes": int(ram_h * inv * 1e5 + 0.5) / 1e5,
        "ramByteRequestAverage": int(rec.ram_req_h * inv * 1e5 + 0.5) / 1e5,
        "ramByteLimitAverage": int(rec.ram_lim_h * inv * 1e5 + 0.5) / 1e5,
        "ramByteUsageAverage": int(rec.ram_use_h * inv * 1e5 + 0.5) / 1e5,
        "ramByteHours": int(ram_h * 1e5 + 0.5) / 1e5,
        "ramCost": ram_cost / _SCALE,
        "ramCostAdjustment": 0.0,
        "ramEfficiency": ram_eff,
        "externalCost": 0.0,
        "sharedCost": 0.0,
        "totalCost": rec.total() / _SCALE,
        "totalEfficiency": total_eff,
        "proportionalAssetResourceCosts": {},
        "lbAllocations": lbs,
        "sharedCostBreakdown": {},
        "gpuAllocation": gpu_alloc,
    }


def _window_dict(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": _iso(_first_hour(start) * _HOUR), "end": _iso(_end_hour(end) * _HOUR)}


# --------------------------------------------------------------------------------------------
# Public allocation API
# --------------------------------------------------------------------------------------------


def allocation_window(
    config: SimConfig,
    cluster_index: int,
    start: datetime,
    end: datetime,
    aggregate: str = "pod",
    include_idle: bool = True,
) -> dict[str, dict[str, Any]]:
    """One allocation set accumulated over the available hours of [start, end).

    Bounds are widened to whole hours. Raises ValueError for an unknown aggregation.
    """
    keyfn = _key_function(aggregate)
    topo = topology(config, cluster_index)
    recs = _accumulate(topo, available_hours(config, start, end), keyfn, include_idle)
    window = _window_dict(start, end)
    return {name: _emit_allocation(name, rec, window) for name, rec in recs.items()}


def allocation_set(
    config: SimConfig,
    cluster_index: int,
    hour_start: datetime,
    aggregate: str = "pod",
    include_idle: bool = True,
) -> dict[str, dict[str, Any]]:
    """The allocations of one hour (one `step=1h` element of Kubecost's `data` list).

    Empty if the hour has not started yet. `hour_start` must be an aware, hour-aligned time.
    """
    _hour_index(hour_start, what="hour_start")
    return allocation_window(
        config,
        cluster_index,
        hour_start,
        hour_start + timedelta(hours=1),
        aggregate,
        include_idle,
    )


def ground_truth_total(
    config: SimConfig,
    cluster_index: int,
    start: datetime,
    end: datetime,
    include_idle: bool = True,
) -> Decimal:
    """Exact sum of `totalCost` over every hourly allocation in [start, end).

    Independent of the aggregation (all aggregations partition the same container-hours) and
    computed from the integer units, so it is what a lossless pipeline must reproduce.
    """
    topo = topology(config, cluster_index)
    units = 0
    for h in available_hours(config, start, end):
        for rec in _generate_hour(topo, h, include_idle).records:
            units += rec.total()
    return Decimal(units).scaleb(-5)


# --------------------------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------------------------


class _AssetRec:
    """One asset accumulated over hours; money in 1e-5 units."""

    __slots__ = (
        "bytes_h",
        "cpu",
        "cpu_h",
        "cpu_user_h",
        "end",
        "gpu",
        "gpu_h",
        "max_used",
        "other",
        "ram",
        "ram_h",
        "ram_user_h",
        "spec",
        "start",
        "used_h",
    )

    def __init__(self, spec: Node | Volume | LoadBalancer, start: int) -> None:
        self.spec = spec
        self.start = start
        self.end = start + _HOUR
        self.cpu = self.ram = self.gpu = self.other = 0
        self.cpu_h = self.ram_h = self.gpu_h = 0.0
        self.cpu_user_h = self.ram_user_h = 0.0
        self.bytes_h = self.used_h = self.max_used = 0.0

    def merge(self, o: _AssetRec) -> None:
        self.start = min(self.start, o.start)
        self.end = max(self.end, o.end)
        self.cpu += o.cpu
        self.ram += o.ram
        self.gpu += o.gpu
        self.other += o.other
        self.cpu_h += o.cpu_h
        self.ram_h += o.ram_h
        self.gpu_h += o.gpu_h
        self.cpu_user_h += o.cpu_user_h
        self.ram_user_h += o.ram_user_h
        self.bytes_h += o.bytes_h
        self.used_h += o.used_h
        self.max_used = max(self.max_used, o.max_used)


def _asset_hour(topo: Cluster, hour: int) -> Iterator[tuple[str, _AssetRec]]:
    start = hour * _HOUR
    data = _generate_hour(topo, hour, include_idle=False)
    for node in topo.nodes:
        a = _AssetRec(node, start)
        a.cpu = node.cpu_units
        a.ram = node.ram_units
        a.gpu = node.gpu_units
        a.cpu_h = float(node.cpu_cores)
        a.ram_h = float(node.ram_bytes)
        a.gpu_h = float(node.gpus)
        a.cpu_user_h = min(1.0, data.node_cpu[node.index] / node.cpu_cores)
        a.ram_user_h = min(1.0, data.node_ram[node.index] / node.ram_bytes)
        yield node.asset_key, a
    trend = topo.trend(hour)
    for vol in topo.volumes:
        a = _AssetRec(vol, start)
        a.other = vol.units_per_hour
        a.bytes_h = float(vol.bytes)
        used = min(1.0, vol.fill * trend) * vol.bytes
        a.used_h = used
        a.max_used = used
        yield vol.asset_key, a
    for lb in topo.load_balancers:
        a = _AssetRec(lb, start)
        a.other = lb.units_per_hour
        yield lb.asset_key, a


def _breakdown(user_h: float, hours: float) -> dict[str, float]:
    user = round(user_h / hours, 5)
    return {"idle": round(1.0 - user, 5), "other": 0.0, "system": 0.0, "user": user}


def _emit_asset(topo: Cluster, a: _AssetRec, window: dict[str, str]) -> dict[str, Any]:
    flavor = topo.flavor
    hours = (a.end - a.start) / _HOUR
    spec = a.spec
    if isinstance(spec, Node):
        kind, category, name, pid = "Node", "Compute", spec.name, spec.provider_id
    elif isinstance(spec, Volume):
        kind, category, name, pid = "Disk", "Storage", spec.name, spec.name
    else:
        kind, category, name, pid = "LoadBalancer", "Network", spec.name, spec.ip
    props: dict[str, Any] = {
        "category": category,
        "provider": flavor.provider,
        "account": flavor.account,
        "project": flavor.project,
        "service": "Kubernetes",
        "cluster": topo.name,
        "name": name,
        "providerID": pid,
    }
    # A window of several hours reports a relabelled node as it was in the window's last hour:
    # one asset has one set of labels, and the latest is what the node says now.
    last_hour = a.end // _HOUR - 1
    base: dict[str, Any] = {
        "type": kind,
        "properties": props,
        "labels": dict(spec.labels_at(last_hour)) if isinstance(spec, Node) else {},
        "window": dict(window),
        "start": _iso(a.start),
        "end": _iso(a.end),
        "minutes": _r5(hours * 60.0),
    }
    if isinstance(spec, Node):
        base.update(
            {
                "nodeType": spec.instance_type,
                "pool": spec.group_at(last_hour),
                "cpuCores": _r5(a.cpu_h / hours),
                "ramBytes": _r5(a.ram_h / hours),
                "cpuCoreHours": _r5(a.cpu_h),
                "ramByteHours": _r5(a.ram_h),
                "GPUHours": _r5(a.gpu_h),
                "cpuBreakdown": _breakdown(a.cpu_user_h, hours),
                "ramBreakdown": _breakdown(a.ram_user_h, hours),
                "preemptible": 1.0 if spec.preemptible else 0.0,
                "discount": 0.0,
                "cpuCost": _money(a.cpu),
                "gpuCost": _money(a.gpu),
                "gpuCount": _r5(a.gpu_h / hours),
                "ramCost": _money(a.ram),
                "adjustment": 0.0,
                "overhead": {
                    "CpuOverheadFraction": 0.06,
                    "RamOverheadFraction": 0.08,
                    "OverheadCostFraction": 0.07,
                },
                "totalCost": _money(a.cpu + a.ram + a.gpu),
            }
        )
    elif isinstance(spec, Volume):
        base.update(
            {
                "byteHours": _r5(a.bytes_h),
                "bytes": _r5(a.bytes_h / hours),
                "byteHoursUsed": _r5(a.used_h),
                "byteUsageMax": _r5(a.max_used),
                "breakdown": _breakdown(a.used_h / spec.bytes, hours),
                "adjustment": 0.0,
                "totalCost": _money(a.other),
                "storageClass": spec.storage_class,
                "volumeName": spec.name,
                "claimName": spec.claim,
                "claimNamespace": spec.namespace,
            }
        )
    else:
        base.update(
            {"adjustment": 0.0, "totalCost": _money(a.other), "private": False, "ip": spec.ip}
        )
    return base


def asset_window(
    config: SimConfig, cluster_index: int, start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """Nodes, disks and load balancers accumulated over the available hours of [start, end)."""
    topo = topology(config, cluster_index)
    out: dict[str, _AssetRec] = {}
    for h in available_hours(config, start, end):
        for key, a in _asset_hour(topo, h):
            cur = out.get(key)
            if cur is None:
                out[key] = a
            else:
                cur.merge(a)
    window = _window_dict(start, end)
    return {key: _emit_asset(topo, a, window) for key, a in out.items()}


def asset_set(
    config: SimConfig, cluster_index: int, hour_start: datetime
) -> dict[str, dict[str, Any]]:
    """The assets of one hour, keyed like Kubecost (provider/account/.../providerID/name)."""
    _hour_index(hour_start, what="hour_start")
    return asset_window(config, cluster_index, hour_start, hour_start + timedelta(hours=1))


@dataclass(frozen=True)
class AssetTotals:
    """Exact sums over asset-hours of one asset type and node group, in currency units."""

    asset_hours: int = 0
    cpu_cost: Decimal = Decimal(0)
    ram_cost: Decimal = Decimal(0)
    gpu_cost: Decimal = Decimal(0)
    total_cost: Decimal = Decimal(0)


def asset_ground_truth(
    config: SimConfig, cluster_index: int, start: datetime, end: datetime
) -> dict[tuple[str, str], AssetTotals]:
    """Exact sums of the hourly assets of [start, end), by (Kubecost type, node group).

    Node groups are the groups the nodes were in that hour (see `SimConfig.node_churn`) and ""
    for disks and load balancers. Computed from the integer units like `ground_truth_total`, so
    it is what a lossless pipeline must reproduce; with it the identity in the module docstring
    can be checked downstream: node cpu + ram + gpu equals allocated cpu + ram + gpu plus idle.
    """
    topo = topology(config, cluster_index)
    units: dict[tuple[str, str], list[int]] = {}
    for h in available_hours(config, start, end):
        for _, a in _asset_hour(topo, h):
            spec = a.spec
            if isinstance(spec, Node):
                key = ("Node", spec.group_at(h))
            else:
                key = ("Disk" if isinstance(spec, Volume) else "LoadBalancer", "")
            sums = units.setdefault(key, [0, 0, 0, 0, 0])
            sums[0] += 1
            sums[1] += a.cpu
            sums[2] += a.ram
            sums[3] += a.gpu
            sums[4] += a.cpu + a.ram + a.gpu + a.other
    return {
        key: AssetTotals(count, *(Decimal(u).scaleb(-5) for u in money))
        for key, (count, *money) in units.items()
    }
