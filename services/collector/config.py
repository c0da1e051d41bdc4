"""Which clusters to collect from, read from a TOML file or, for one cluster, the environment.

A file (`COSTPIPE_COLLECTOR_CONFIG`) lists many clusters; for a single cluster the environment is
enough (`COSTPIPE_KUBECOST_URL`, `COSTPIPE_CLUSTER_NAME`, ...). Everything is validated at start,
unknown keys included, so a typo fails the process with a message naming the setting instead of
being silently ignored and noticed an hour later. The format is documented in docs/collector.md.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.collector.config_checks import ConfigError, Table
from shared.ids import cluster_id_for_name
from shared.settings import SettingsError

DEFAULT_ORGANIZATION_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
DEFAULT_SERVICE_LABELS = ("app.kubernetes.io/name", "app", "service")
DEFAULT_TEAM_LABELS = ("team", "org", "organization")
DEFAULT_OWNER_LABELS = ("owner", "user")

# Where each product serves its APIs: Kubecost's cost-analyzer under /model, OpenCost's own
# API server (port 9003) at the root, with allocations under /allocation/compute.
FLAVOR_PATHS = {
    "kubecost": ("/model/allocation", "/model/assets"),
    "opencost": ("/allocation/compute", "/assets"),
}


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    id: uuid.UUID
    organization_id: uuid.UUID
    base_url: str
    flavor: str = "kubecost"
    allocation_path: str = "/model/allocation"
    assets_path: str = "/model/assets"
    auth_header: str | None = None
    aggregate: str = "pod"


@dataclass(frozen=True)
class CollectorConfig:
    clusters: tuple[ClusterConfig, ...]
    organization_name: str = "default"
    backfill_days: int = 7
    restatement_hours: int = 48
    chunk_hours: int = 24
    poll_interval_seconds: float = 300.0
    request_timeout_seconds: float = 30.0
    max_attempts: int = 4
    retry_base_delay_seconds: float = 0.5
    retry_max_delay_seconds: float = 30.0
    progress_log_every: int = 10
    service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS
    team_labels: tuple[str, ...] = DEFAULT_TEAM_LABELS
    owner_labels: tuple[str, ...] = DEFAULT_OWNER_LABELS


_DEFAULT_KEYS = frozenset(
    {
        "organization_id",
        "organization_name",
        "backfill_days",
        "restatement_hours",
        "chunk_hours",
        "poll_interval_seconds",
        "request_timeout_seconds",
        "max_attempts",
        "retry_base_delay_seconds",
        "retry_max_delay_seconds",
        "progress_log_every",
        "service_labels",
        "team_labels",
        "owner_labels",
    }
)
_CLUSTER_KEYS = frozenset(
    {
        "name",
        "id",
        "organization_id",
        "base_url",
        "flavor",
        "allocation_path",
        "assets_path",
        "auth_header",
        "aggregate",
    }
)


def _cluster(raw: object, index: int, default_org: uuid.UUID) -> ClusterConfig:
    table = Table(raw, f"clusters[{index}]", _CLUSTER_KEYS)
    name = table.text("name")
    table.where = f"clusters[{index}] ({name})"
    base_url = table.url("base_url")
    organization_id = table.uuid("organization_id", default_org)
    cluster_id = table.uuid("id", cluster_id_for_name(organization_id, name))
    flavor = table.text("flavor", "kubecost")
    if flavor not in FLAVOR_PATHS:
        raise table.error("flavor", f"must be one of {', '.join(FLAVOR_PATHS)}, got {flavor!r}")
    allocation_default, assets_default = FLAVOR_PATHS[flavor]
    return ClusterConfig(
        name=name,
        id=cluster_id,
        organization_id=organization_id,
        base_url=base_url,
        flavor=flavor,
        allocation_path=table.path("allocation_path", allocation_default),
        assets_path=table.path("assets_path", assets_default),
        auth_header=table.optional_text("auth_header"),
        aggregate=table.text("aggregate", "pod").strip(),
    )


def _check_unique(clusters: tuple[ClusterConfig, ...]) -> None:
    seen_ids: dict[uuid.UUID, str] = {}
    seen_names: set[str] = set()
    for cluster in clusters:
        if cluster.id in seen_ids:
            raise SettingsError(
                f"clusters {seen_ids[cluster.id]!r} and {cluster.name!r} share the id {cluster.id}"
                " (an id is derived from the organization and name when not given)"
            )
        if cluster.name in seen_names:
            raise SettingsError(f"two clusters are named {cluster.name!r}; names must be unique")
        seen_ids[cluster.id] = cluster.name
        seen_names.add(cluster.name)


def parse_config(raw: Mapping[str, Any]) -> CollectorConfig:
    """A validated configuration from the parsed TOML document (or the same shape built in code)."""
    Table(raw, "the collector configuration", frozenset({"defaults", "clusters"}))
    defaults = Table(raw.get("defaults", {}), "defaults", _DEFAULT_KEYS)
    default_org = defaults.uuid("organization_id", DEFAULT_ORGANIZATION_ID)
    clusters_raw = raw.get("clusters", [])
    if not isinstance(clusters_raw, list) or not clusters_raw:
        raise SettingsError("at least one [[clusters]] entry is required")
    clusters = tuple(_cluster(c, i, default_org) for i, c in enumerate(clusters_raw))
    _check_unique(clusters)
    base_delay = defaults.number("retry_base_delay_seconds", 0.5, 0.0)
    max_delay = defaults.number("retry_max_delay_seconds", max(30.0, base_delay), base_delay)
    return CollectorConfig(
        clusters=clusters,
        organization_name=defaults.text("organization_name", "default"),
        backfill_days=defaults.integer("backfill_days", 7, 0),
        restatement_hours=defaults.integer("restatement_hours", 48, 0),
        chunk_hours=defaults.integer("chunk_hours", 24, 1),
        poll_interval_seconds=defaults.number("poll_interval_seconds", 300.0, 0.0, strict=True),
        request_timeout_seconds=defaults.number("request_timeout_seconds", 30.0, 0.0, strict=True),
        max_attempts=defaults.integer("max_attempts", 4, 1),
        retry_base_delay_seconds=base_delay,
        retry_max_delay_seconds=max_delay,
        progress_log_every=defaults.integer("progress_log_every", 10, 1),
        service_labels=defaults.labels("service_labels", DEFAULT_SERVICE_LABELS),
        team_labels=defaults.labels("team_labels", DEFAULT_TEAM_LABELS),
        owner_labels=defaults.labels("owner_labels", DEFAULT_OWNER_LABELS),
    )


def read_config_file(path: str) -> CollectorConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"COSTPIPE_COLLECTOR_CONFIG: cannot read {path}: {exc}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"COSTPIPE_COLLECTOR_CONFIG: {path} is not valid TOML: {exc}") from exc
    try:
        return parse_config(raw)
    except SettingsError as exc:
        raise SettingsError(f"COSTPIPE_COLLECTOR_CONFIG: {path}: {exc}") from exc


# The single-cluster form: variable -> key of the cluster table or of [defaults].
_ENV_CLUSTER = {
    "COSTPIPE_KUBECOST_URL": "base_url",
    "COSTPIPE_CLUSTER_NAME": "name",
    "COSTPIPE_CLUSTER_ID": "id",
    "COSTPIPE_KUBECOST_FLAVOR": "flavor",
    "COSTPIPE_KUBECOST_ALLOCATION_PATH": "allocation_path",
    "COSTPIPE_KUBECOST_ASSETS_PATH": "assets_path",
    "COSTPIPE_KUBECOST_AUTH_HEADER": "auth_header",
    "COSTPIPE_KUBECOST_AGGREGATE": "aggregate",
}
_ENV_DEFAULTS: dict[str, tuple[str, type[int] | type[float] | type[str]]] = {
    "COSTPIPE_ORGANIZATION_ID": ("organization_id", str),
    "COSTPIPE_BACKFILL_DAYS": ("backfill_days", int),
    "COSTPIPE_RESTATEMENT_HOURS": ("restatement_hours", int),
    "COSTPIPE_CHUNK_HOURS": ("chunk_hours", int),
    "COSTPIPE_POLL_INTERVAL_SECONDS": ("poll_interval_seconds", float),
    "COSTPIPE_REQUEST_TIMEOUT_SECONDS": ("request_timeout_seconds", float),
    "COSTPIPE_MAX_ATTEMPTS": ("max_attempts", int),
    "COSTPIPE_RETRY_BASE_DELAY_SECONDS": ("retry_base_delay_seconds", float),
}


def config_from_env(env: Mapping[str, str]) -> CollectorConfig:
    """One cluster from `COSTPIPE_*` variables; errors name the variable, not a TOML key."""
    cluster: dict[str, Any] = {"name": "default"}
    for variable, key in _ENV_CLUSTER.items():
        if env.get(variable):
            cluster[key] = env[variable]
    defaults: dict[str, Any] = {}
    for variable, (key, kind) in _ENV_DEFAULTS.items():
        raw_value = env.get(variable)
        if not raw_value:
            continue
        try:
            defaults[key] = kind(raw_value)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise SettingsError(f"{variable} must be {what}, got {raw_value!r}") from None
    try:
        return parse_config({"defaults": defaults, "clusters": [cluster]})
    except ConfigError as exc:
        variables = {key: var for var, key in _ENV_CLUSTER.items()}
        variables.update({key: var for var, (key, _) in _ENV_DEFAULTS.items()})
        raise SettingsError(f"{variables.get(exc.key, exc.key)} {exc.problem}") from exc


def load_config(env: Mapping[str, str] | None = None) -> CollectorConfig:
    """From `COSTPIPE_COLLECTOR_CONFIG` (a TOML file) or, failing that, one cluster from env."""
    env = os.environ if env is None else env
    path = env.get("COSTPIPE_COLLECTOR_CONFIG")
    if path:
        return read_config_file(path)
    if not env.get("COSTPIPE_KUBECOST_URL"):
        raise SettingsError(
            "no clusters configured: set COSTPIPE_COLLECTOR_CONFIG (a TOML file) "
            "or COSTPIPE_KUBECOST_URL"
        )
    return config_from_env(env)
