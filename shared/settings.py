"""Configuration from environment variables, all prefixed `COSTPIPE_`, read once per process.

One dataclass per concern; each field names its variable so `costpipe --help` and the docs can
list them. Invalid values fail at start with a message naming the variable, never later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

PREFIX = "COSTPIPE_"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(PREFIX + name)
    if value is None or value == "":
        return default
    return value


def _require(env: Mapping[str, str], name: str) -> str:
    value = _get(env, name)
    if value is None:
        raise SettingsError(f"{PREFIX}{name} is not set")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class DatabaseSettings:
    """COSTPIPE_DATABASE_URL: postgresql://user:pass@host:port/db of a TimescaleDB server."""

    url: str
    pool_min: int = 1
    pool_max: int = 10
    rollup_mode: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabaseSettings:
        env = os.environ if env is None else env
        url = _require(env, "DATABASE_URL")
        if urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise SettingsError(f"{PREFIX}DATABASE_URL must be a postgresql:// URL, got {url!r}")
        mode = _get(env, "ROLLUP_MODE", "auto") or "auto"
        if mode not in ("auto", "managed", "continuous"):
            raise SettingsError(
                f"{PREFIX}ROLLUP_MODE must be auto, managed or continuous, got {mode!r}"
            )
        return cls(
            url=url,
            pool_min=_int(env, "DATABASE_POOL_MIN", 1),
            pool_max=_int(env, "DATABASE_POOL_MAX", 10, minimum=1),
            rollup_mode=mode,
        )


@dataclass(frozen=True)
class KafkaSettings:
    """COSTPIPE_KAFKA_BOOTSTRAP: comma-separated host:port list of Kafka brokers."""

    bootstrap: str
    partitions: int = 6
    replication_factor: int = 1
    consumer_group: str = "costpipe-aggregator"
    topic_prefix: str = "costpipe."

    @property
    def allocations_topic(self) -> str:
        return f"{self.topic_prefix}allocations.v1"

    @property
    def assets_topic(self) -> str:
        return f"{self.topic_prefix}assets.v1"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic_prefix}deadletter.v1"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSettings:
        env = os.environ if env is None else env
        bootstrap = _require(env, "KAFKA_BOOTSTRAP")
        for server in bootstrap.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise SettingsError(
                    f"{PREFIX}KAFKA_BOOTSTRAP must be a host:port list, got {bootstrap!r}"
                )
        return cls(
            bootstrap=bootstrap,
            partitions=_int(env, "KAFKA_PARTITIONS", 6, minimum=1),
            replication_factor=_int(env, "KAFKA_REPLICATION_FACTOR", 1, minimum=1),
            consumer_group=_get(env, "KAFKA_CONSUMER_GROUP", "costpipe-aggregator")
            or "costpipe-aggregator",
            topic_prefix=_get(env, "KAFKA_TOPIC_PREFIX", "costpipe.") or "costpipe.",
        )


@dataclass(frozen=True)
class ApiSettings:
    """COSTPIPE_API_HOST / COSTPIPE_API_PORT: where the API listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    currency: str = "USD"
    rate_limit_per_minute: int = 600
    database_timeout_seconds: float = 3.0
    key_cache_seconds: float = 5.0
    answer_cache_entries: int = 1000
    model_refresh_seconds: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if env is None else env
        return cls(
            host=_get(env, "API_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "API_PORT", 8080),
            currency=_get(env, "CURRENCY", "USD") or "USD",
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 600),
            database_timeout_seconds=_float(env, "API_DATABASE_TIMEOUT_SECONDS", 3.0, 0.1),
            key_cache_seconds=_float(env, "API_KEY_CACHE_SECONDS", 5.0),
            answer_cache_entries=_int(env, "API_ANSWER_CACHE_ENTRIES", 1000),
            model_refresh_seconds=_float(env, "API_MODEL_REFRESH_SECONDS", 300.0),
        )


# Each service's own default metrics port, so that all of them run side by side on one host
# (the API serves /metrics on its own port, COSTPIPE_API_PORT).
COLLECTOR_METRICS_PORT = 9100
AGGREGATOR_METRICS_PORT = 9101


@dataclass(frozen=True)
class OpsSettings:
    """COSTPIPE_METRICS_HOST / COSTPIPE_METRICS_PORT: where the collector (default port 9100) and
    the aggregator (9101) serve /metrics, /healthz and /readyz (port 0 turns the endpoints off)."""

    host: str = "127.0.0.1"
    port: int = COLLECTOR_METRICS_PORT

    @property
    def enabled(self) -> bool:
        return self.port > 0

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, default_port: int = COLLECTOR_METRICS_PORT
    ) -> OpsSettings:
        env = os.environ if env is None else env
        return cls(
            host=_get(env, "METRICS_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "METRICS_PORT", default_port),
        )


@dataclass(frozen=True)
class AggregatorSettings:
    """Batch bounds: a batch closes at COSTPIPE_BATCH_MAX_EVENTS or COSTPIPE_BATCH_MAX_MS.
    COSTPIPE_COMMIT_INTERVAL_MS: while the aggregator is behind (full batches), how often at
    most it commits offsets; a batch that catches up is committed at once (0: every batch)."""

    batch_max_events: int = 50000
    batch_max_ms: int = 500
    retry_backoff_seconds: float = 1.0
    lag_refresh_seconds: float = 1.0
    commit_interval_ms: int = 5000
    # COSTPIPE_AGGREGATOR_INSTANCE_ID: this aggregator's static member name in its consumer
    # group (KIP-345); None: `<hostname>-<n>`, the first n no live aggregator holds (see
    # services/aggregator/membership.py).
    instance_id: str | None = None
    # COSTPIPE_KAFKA_SESSION_TIMEOUT_MS: how long the broker waits for a silent member before
    # handing its partitions to the others.
    session_timeout_ms: int = 30000
    # COSTPIPE_ASSIGNMENT_GRACE_SECONDS: owning no partition for longer than this is a stall:
    # logged every minute and reported by /readyz.
    assignment_grace_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AggregatorSettings:
        env = os.environ if env is None else env
        return cls(
            batch_max_events=_int(env, "BATCH_MAX_EVENTS", 50000, minimum=1),
            batch_max_ms=_int(env, "BATCH_MAX_MS", 500, minimum=1),
            retry_backoff_seconds=_float(env, "RETRY_BACKOFF_SECONDS", 1.0),
            lag_refresh_seconds=_float(env, "LAG_REFRESH_SECONDS", 1.0, 0.05),
            commit_interval_ms=_int(env, "COMMIT_INTERVAL_MS", 5000, minimum=0),
            instance_id=_instance_id(env),
            session_timeout_ms=_int(env, "KAFKA_SESSION_TIMEOUT_MS", 30000, minimum=1000),
            assignment_grace_seconds=_float(env, "ASSIGNMENT_GRACE_SECONDS", 60.0, 1.0),
        )


def _instance_id(env: Mapping[str, str]) -> str | None:
    """Kafka takes a group instance id of up to 249 characters of [a-zA-Z0-9._-]."""
    raw = _get(env, "AGGREGATOR_INSTANCE_ID")
    if raw is None:
        return None
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    if len(raw) > 249 or not set(raw) <= allowed:
        raise SettingsError(
            f"{PREFIX}AGGREGATOR_INSTANCE_ID must be 1-249 characters of letters, digits, "
            f"'.', '_' and '-', got {raw!r}"
        )
    return raw


@dataclass(frozen=True)
class RetentionSettings:
    """COSTPIPE_RAW_RETENTION_DAYS: how long raw rows are kept (0 keeps them forever); the rollups
    are kept whatever it is. It must exceed how far back a restatement can reach."""

    raw_retention_days: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetentionSettings:
        env = os.environ if env is None else env
        days = _int(env, "RAW_RETENTION_DAYS", 0)
        if 0 < days < 30:
            raise SettingsError(
                f"{PREFIX}RAW_RETENTION_DAYS must be 0 (keep) or at least 30, got {days}"
            )
        return cls(raw_retention_days=days)


ENV_DOC: dict[str, str] = {
    "COSTPIPE_DATABASE_URL": "PostgreSQL/TimescaleDB URL (postgresql://...)",
    "COSTPIPE_KAFKA_BOOTSTRAP": "Kafka bootstrap servers, host:port[,host:port]",
    "COSTPIPE_KAFKA_PARTITIONS": "partitions for topics the pipeline creates (default 6)",
    "COSTPIPE_KAFKA_TOPIC_PREFIX": "prefix of the pipeline's topic names (default costpipe.)",
    "COSTPIPE_KAFKA_CONSUMER_GROUP": "aggregator consumer group (default costpipe-aggregator)",
    "COSTPIPE_AGGREGATOR_INSTANCE_ID": "aggregator's static group member name (default host-n)",
    "COSTPIPE_KAFKA_SESSION_TIMEOUT_MS": "broker's wait for a silent aggregator (default 30000)",
    "COSTPIPE_ASSIGNMENT_GRACE_SECONDS": "no partition for longer is a stall (default 60)",
    "COSTPIPE_ROLLUP_MODE": "auto | managed | continuous (default auto)",
    "COSTPIPE_RAW_RETENTION_DAYS": "`costpipe retention` drops older raw rows (0 = keep; else >= 30)",
    "COSTPIPE_COLLECTOR_CONFIG": "TOML file listing the clusters to collect from",
    "COSTPIPE_KUBECOST_URL": "one cluster's Kubecost/OpenCost base URL (instead of a file)",
    "COSTPIPE_CLUSTER_NAME": "that cluster's name (default default)",
    "COSTPIPE_CLUSTER_ID": "that cluster's UUID (default: derived from organization and name)",
    "COSTPIPE_ORGANIZATION_ID": "that cluster's organization UUID",
    "COSTPIPE_KUBECOST_FLAVOR": "kubecost (default) or opencost: which API paths to use",
    "COSTPIPE_KUBECOST_ALLOCATION_PATH": "allocation API path override",
    "COSTPIPE_KUBECOST_ASSETS_PATH": "assets API path override",
    "COSTPIPE_KUBECOST_AUTH_HEADER": "Authorization header value sent to Kubecost/OpenCost",
    "COSTPIPE_KUBECOST_AGGREGATE": "pod (default) or container",
    "COSTPIPE_BACKFILL_DAYS": "history fetched on a cluster's first start (default 7)",
    "COSTPIPE_RESTATEMENT_HOURS": "trailing hours fetched again every cycle (default 48)",
    "COSTPIPE_CHUNK_HOURS": "hours per request, on a UTC grid (default 24)",
    "COSTPIPE_POLL_INTERVAL_SECONDS": "collection cycle interval (default 300)",
    "COSTPIPE_REQUEST_TIMEOUT_SECONDS": "per wait for Kubecost/OpenCost (default 30)",
    "COSTPIPE_MAX_ATTEMPTS": "requests per window before it is recorded as a gap (default 4)",
    "COSTPIPE_RETRY_BASE_DELAY_SECONDS": "first retry backoff, doubled per attempt (default 0.5)",
    "COSTPIPE_API_HOST": "API listen address (default 127.0.0.1)",
    "COSTPIPE_API_PORT": "API listen port (default 8080)",
    "COSTPIPE_RATE_LIMIT_PER_MINUTE": "API requests per minute per key (default 600; 0 = off)",
    "COSTPIPE_API_DATABASE_TIMEOUT_SECONDS": "API wait for a database connection (default 3)",
    "COSTPIPE_API_KEY_CACHE_SECONDS": "how long a resolved API key is reused (default 5; 0 = off)",
    "COSTPIPE_API_ANSWER_CACHE_ENTRIES": "FinOps answers kept until their data changes"
    " (default 1000; 0 = off)",
    "COSTPIPE_API_MODEL_REFRESH_SECONDS": "how often forecasts and anomalies asked before are"
    " fitted again if their data changed (default 300; 0 = off)",
    "COSTPIPE_METRICS_HOST": "collector/aggregator /metrics and probes address (default 127.0.0.1)",
    "COSTPIPE_METRICS_PORT": "/metrics and probes port (collector 9100, aggregator 9101; 0 = off)",
    "COSTPIPE_LOG_LEVEL": "DEBUG, INFO (default), WARNING, ERROR",
    "COSTPIPE_LOG_FORMAT": "json or text (default: text on a terminal, json otherwise)",
    "COSTPIPE_BATCH_MAX_EVENTS": "aggregator batch size bound (default 50000)",
    "COSTPIPE_BATCH_MAX_MS": "aggregator batch time bound in ms (default 500)",
    "COSTPIPE_COMMIT_INTERVAL_MS": "while behind, commit offsets at most this often (5000; 0 = every batch)",
    "COSTPIPE_LAG_REFRESH_SECONDS": "how often the aggregator asks the broker for end offsets (1)",
    "COSTPIPE_RETRY_BACKOFF_SECONDS": "aggregator wait before retrying a rewound batch (default 1)",
    "COSTPIPE_CURRENCY": "currency the API names in its answers (default USD)",
}
