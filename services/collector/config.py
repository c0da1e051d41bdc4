"""Which clusters to collect from, read from a TOML file and/or environment variables.

A file (`COSTPIPE_COLLECTOR_CONFIG`) lists many clusters; for a single cluster the environment is
enough (`COSTPIPE_KUBECOST_URL`, `COSTPIPE_CLUSTER_NAME`, ...). Everything is validated at start so
a typo fails the process with a message naming the setting, not an hour later.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.ids import cluster_id_for_name
from shared.settings import SettingsError

DEFAULT_ORGANIZATION_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
DEFAULT_SERVICE_LABELS = ("app.kubernetes.io/name", "app", "service")
DEFAULT_TEAM_LABELS = ("team", "org", "organization")
DEFAULT_OWNER_LABELS = ("owner", "user")


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    id: uuid.UUID
    organization_id: uuid.UUID
    base_url: str
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
    service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS
    team_labels: tuple[str, ...] = DEFAULT_TEAM_LABELS
    owner_labels: tuple[str, ...] = DEFAULT_OWNER_LABELS
    extra: Mapping[str, Any] = field(default_factory=dict)


def _uuid(value: object, where: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise SettingsError(f"{where} must be a UUID, got {value!r}") from exc


def _url(value: object, where: str) -> str:
    text = str(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{where} must be an http(s) URL, got {value!r}")
    return text


def _positive_int(raw: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SettingsError(f"{where}.{key} must be a non-negative integer, got {value!r}")
    return value


def _labels(raw: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"defaults.{key} must be a list of label keys")
    return tuple(value)


def _cluster(raw: Mapping[str, Any], index: int, default_org: uuid.UUID) -> ClusterConfig:
    where = f"clusters[{index}]"
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SettingsError(f"{where}.name is required")
    if "base_url" not in raw:
        raise SettingsError(f"{where}.base_url is required")
    organization_id = _uuid(raw.get("organization_id", default_org), f"{where}.organization_id")
    cluster_id = (
        _uuid(raw["id"], f"{where}.id")
        if "id" in raw
        else cluster_id_for_name(organization_id, name)
    )
    auth = raw.get("auth_header")
    if auth is not None and not isinstance(auth, str):
        raise SettingsError(f"{where}.auth_header must be a string")
    return ClusterConfig(
        name=name,
        id=cluster_id,
        organization_id=organization_id,
        base_url=_url(raw["base_url"], f"{where}.base_url"),
        allocation_path=str(raw.get("allocation_path", "/model/allocation")),
        assets_path=str(raw.get("assets_path", "/model/assets")),
        auth_header=auth,
        aggregate=str(raw.get("aggregate", "pod")),
    )


def parse_config(raw: Mapping[str, Any]) -> CollectorConfig:
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise SettingsError("[defaults] must be a table")
    default_org = _uuid(
        defaults.get("organization_id", DEFAULT_ORGANIZATION_ID), "defaults.organization_id"
    )
    clusters_raw = raw.get("clusters", [])
    if not isinstance(clusters_raw, list) or not clusters_raw:
        raise SettingsError("at least one [[clusters]] entry is required")
    clusters = tuple(_cluster(c, i, default_org) for i, c in enumerate(clusters_raw))
    ids = [c.id for c in clusters]
    if len(set(ids)) != len(ids):
        raise SettingsError("two clusters share the same id")
    chunk_hours = _positive_int(defaults, "chunk_hours", 24, "defaults")
    if chunk_hours < 1:
        raise SettingsError("defaults.chunk_hours must be at least 1")
    return CollectorConfig(
        clusters=clusters,
        organization_name=str(defaults.get("organization_name", "default")),
        backfill_days=_positive_int(defaults, "backfill_days", 7, "defaults"),
        restatement_hours=_positive_int(defaults, "restatement_hours", 48, "defaults"),
        chunk_hours=chunk_hours,
        poll_interval_seconds=float(defaults.get("poll_interval_seconds", 300.0)),
        request_timeout_seconds=float(defaults.get("request_timeout_seconds", 30.0)),
        max_attempts=max(1, _positive_int(defaults, "max_attempts", 4, "defaults")),
        service_labels=_labels(defaults, "service_labels", DEFAULT_SERVICE_LABELS),
        team_labels=_labels(defaults, "team_labels", DEFAULT_TEAM_LABELS),
        owner_labels=_labels(defaults, "owner_labels", DEFAULT_OWNER_LABELS),
    )


def load_config(env: Mapping[str, str] | None = None) -> CollectorConfig:
    """From `COSTPIPE_COLLECTOR_CONFIG` (a TOML file) or, failing that, one cluster from env."""
    env = os.environ if env is None else env
    path = env.get("COSTPIPE_COLLECTOR_CONFIG")
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"COSTPIPE_COLLECTOR_CONFIG: cannot read {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(
                f"COSTPIPE_COLLECTOR_CONFIG: {path} is not valid TOML: {exc}"
            ) from exc
        return parse_config(raw)
    url = env.get("COSTPIPE_KUBECOST_URL")
    if not url:
        raise SettingsError(
            "no clusters configured: set COSTPIPE_COLLECTOR_CONFIG (a TOML file) "
            "or COSTPIPE_KUBECOST_URL"
        )
    cluster: dict[str, Any] = {
        "name": env.get("COSTPIPE_CLUSTER_NAME", "default"),
        "base_url": url,
        "allocation_path": env.get("COSTPIPE_KUBECOST_ALLOCATION_PATH", "/model/allocation"),
        "assets_path": env.get("COSTPIPE_KUBECOST_ASSETS_PATH", "/model/assets"),
    }
    if env.get("COSTPIPE_CLUSTER_ID"):
        cluster["id"] = env["COSTPIPE_CLUSTER_ID"]
    if env.get("COSTPIPE_KUBECOST_AUTH_HEADER"):
        cluster["auth_header"] = env["COSTPIPE_KUBECOST_AUTH_HEADER"]
    defaults: dict[str, Any] = {}
    if env.get("COSTPIPE_ORGANIZATION_ID"):
        defaults["organization_id"] = env["COSTPIPE_ORGANIZATION_ID"]
    for key in ("backfill_days", "restatement_hours", "chunk_hours"):
        raw_value = env.get(f"COSTPIPE_{key.upper()}")
        if raw_value:
            if not raw_value.isdigit():
                raise SettingsError(f"COSTPIPE_{key.upper()} must be a whole number")
            defaults[key] = int(raw_value)
    return parse_config({"defaults": defaults, "clusters": [cluster]})
