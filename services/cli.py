"""`costpipe`: one entry point for every service and operation.

Configuration comes from `COSTPIPE_*` environment variables (see `costpipe --help`); flags only
choose what to run. Errors in configuration end the process with exit code 2 and one clear line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime

import psycopg

from shared.apikeys import ALL_SCOPES
from shared.db.migrations import MigrationError
from shared.settings import ENV_DOC, SettingsError
from shared.timewindows import utc

log = logging.getLogger("costpipe")

_LOGS = ("LOG_LEVEL", "LOG_FORMAT")
_DATABASE = ("DATABASE_URL", "ROLLUP_MODE")
_KAFKA = ("KAFKA_BOOTSTRAP", "KAFKA_PARTITIONS", "KAFKA_TOPIC_PREFIX")
_OPS = ("METRICS_HOST", "METRICS_PORT")
_COLLECTOR = (
    "COLLECTOR_CONFIG",
    "KUBECOST_URL",
    "CLUSTER_NAME",
    "CLUSTER_ID",
    "ORGANIZATION_ID",
    "KUBECOST_FLAVOR",
    "KUBECOST_ALLOCATION_PATH",
    "KUBECOST_ASSETS_PATH",
    "KUBECOST_AUTH_HEADER",
    "KUBECOST_AGGREGATE",
    "BACKFILL_DAYS",
    "RESTATEMENT_HOURS",
    "CHUNK_HOURS",
    "POLL_INTERVAL_SECONDS",
    "REQUEST_TIMEOUT_SECONDS",
    "MAX_ATTEMPTS",
    "RETRY_BASE_DELAY_SECONDS",
)
_AGGREGATOR = (
    "KAFKA_CONSUMER_GROUP",
    "AGGREGATOR_INSTANCE_ID",
    "KAFKA_SESSION_TIMEOUT_MS",
    "ASSIGNMENT_GRACE_SECONDS",
    "BATCH_MAX_EVENTS",
    "BATCH_MAX_MS",
    "COMMIT_INTERVAL_MS",
    "RETRY_BACKOFF_SECONDS",
    "LAG_REFRESH_SECONDS",
)
_API = (
    "API_HOST",
    "API_PORT",
    "CURRENCY",
    "RATE_LIMIT_PER_MINUTE",
    "API_DATABASE_TIMEOUT_SECONDS",
    "API_KEY_CACHE_SECONDS",
    "API_ANSWER_CACHE_ENTRIES",
    "API_MODEL_REFRESH_SECONDS",
)
# The environment each command reads (its --help lists only these, after its own options).
READS: dict[str, tuple[str, ...]] = {
    "migrate": _DATABASE,
    "retention": (*_DATABASE, "RAW_RETENTION_DAYS"),
    "replay-dead-letters": _KAFKA,
    "collector": (*_DATABASE, *_KAFKA, *_COLLECTOR, *_OPS),
    "aggregator": (*_DATABASE, *_KAFKA, *_AGGREGATOR, *_OPS),
    "api": (*_DATABASE, *_API, "KAFKA_BOOTSTRAP", "KAFKA_TOPIC_PREFIX", "KAFKA_CONSUMER_GROUP"),
    "dev": (*_DATABASE, *_KAFKA, *_COLLECTOR, *_AGGREGATOR, *_OPS, *_API),
    "local-services": ("DATABASE_URL", "KAFKA_BOOTSTRAP"),
    "keys": ("DATABASE_URL",),
    "export": ("DATABASE_URL", "CURRENCY"),
    "kubecost-sim": (),
}


def _environment(names: tuple[str, ...]) -> str:
    listed = [f"COSTPIPE_{name}" for name in (*names, *_LOGS)]
    return "environment it reads:\n" + "\n".join(f"  {k:<36} {ENV_DOC[k]}" for k in listed)


_EPILOG = (
    "Each command's --help lists its own options and the COSTPIPE_* variables it reads.\n"
    + _environment(tuple(dict.fromkeys(n for names in READS.values() for n in names)))
)


def _timestamp(text: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _cmd_migrate(args: argparse.Namespace) -> int:
    from shared.db.migrations import migrate
    from shared.settings import DatabaseSettings

    settings = DatabaseSettings.from_env()
    applied = migrate(settings.url, settings.rollup_mode)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def _cmd_retention(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from shared.db.retention import drop_raw_chunks, prune_healed_gaps
    from shared.settings import DatabaseSettings, RetentionSettings

    database, retention = DatabaseSettings.from_env(), RetentionSettings.from_env()
    if retention.raw_retention_days == 0:
        print("raw retention is off (COSTPIPE_RAW_RETENTION_DAYS=0); nothing dropped")
        return 0
    keep = timedelta(days=retention.raw_retention_days)
    dropped = drop_raw_chunks(database.url, keep)
    print("dropped raw chunks: " + ", ".join(f"{t} {n}" for t, n in dropped.items()))
    print(f"pruned healed collector gaps: {prune_healed_gaps(database.url, keep)}")
    return 0


def _cmd_replay_dead_letters(args: argparse.Namespace) -> int:
    from services.aggregator.dead_letter_replay import REPLAY, replay_dead_letters
    from shared.kafka import ensure_topics
    from shared.progress import progress_for
    from shared.settings import KafkaSettings

    kafka = KafkaSettings.from_env()

    async def run() -> tuple[int, int]:
        await ensure_topics(kafka)
        result = await replay_dead_letters(
            kafka, progress_for(sys.stderr, 1000, REPLAY), args.reason
        )
        return result.replayed, result.skipped

    replayed, skipped = asyncio.run(run())
    print(f"replayed {replayed} dead letter(s) to their source topics; skipped {skipped}")
    return 0


def _cmd_collector(args: argparse.Namespace) -> int:
    from services.collector.config import load_config
    from services.collector.service import collector_service
    from services.runtime import stop_on_signals
    from shared.settings import DatabaseSettings, KafkaSettings, OpsSettings

    database, kafka, config = DatabaseSettings.from_env(), KafkaSettings.from_env(), load_config()
    window = None
    if args.start is not None or args.end is not None:
        if args.start is None or args.end is None or args.end <= args.start:
            raise SettingsError("--from and --to go together, and --to must be after --from")
        window = (args.start, args.end)

    async def main() -> int:
        return await collector_service(
            database,
            kafka,
            config,
            stop_on_signals(),
            once=args.once,
            window=window,
            ops=OpsSettings.from_env(),
        )

    produced = asyncio.run(main())
    log.info("collector stopped after producing %d events", produced)
    return 0


def _cmd_aggregator(args: argparse.Namespace) -> int:
    from services.aggregator.service import aggregator_service
    from services.runtime import stop_on_signals
    from shared.settings import (
        AGGREGATOR_METRICS_PORT,
        AggregatorSettings,
        DatabaseSettings,
        KafkaSettings,
        OpsSettings,
    )

    database, kafka = DatabaseSettings.from_env(), KafkaSettings.from_env()
    settings = AggregatorSettings.from_env()

    async def main() -> int:
        return await aggregator_service(
            database,
            kafka,
            settings,
            stop_on_signals(),
            idle_exit_seconds=args.exit_when_idle,
            ops=OpsSettings.from_env(default_port=AGGREGATOR_METRICS_PORT),
        )

    events = asyncio.run(main())
    log.info("aggregator stopped after %d events", events)
    return 0


def _cmd_api(args: argparse.Namespace) -> int:
    from services.api.service import api_service
    from services.runtime import stop_on_signals
    from shared.settings import ApiSettings, DatabaseSettings, KafkaSettings

    database, api = DatabaseSettings.from_env(), ApiSettings.from_env()
    # Kafka is optional for the API: it only reports the pipeline's lag in data-health.
    kafka = KafkaSettings.from_env() if os.environ.get("COSTPIPE_KAFKA_BOOTSTRAP") else None

    async def main() -> None:
        stop = stop_on_signals()
        log.info("API listening on http://%s:%d", api.host, api.port)
        await api_service(database, api, stop, kafka)

    asyncio.run(main())
    return 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from services.dev import run_dev

    return run_dev(
        args.data_dir, clusters=args.clusters, backfill_days=args.backfill_days, api_port=args.port
    )


def _cmd_local_services(args: argparse.Namespace) -> int:
    from services.dev import run_local_services

    return run_local_services(args.data_dir)


def _uuid_arg(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def _comma_list(text: str, what: str, instead: str) -> list[str]:
    """The entries of a comma-separated flag. An empty or blank entry is refused rather than
    dropped: it is the shape a shell leaves when a variable is unset (`--clusters "$IDS"`,
    `a,,b`), and reading it as "nothing named" once meant "everything"."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"empty {what} list; {instead}")
    entries = [entry.strip() for entry in text.split(",")]
    if not all(entries):
        raise argparse.ArgumentTypeError(f"blank entry in {what} list {text!r}")
    return entries


def _cluster_list(text: str) -> tuple[uuid.UUID, ...]:
    entries = _comma_list(
        text, "cluster", "name at least one cluster UUID, or use --all-clusters instead"
    )
    return tuple(_uuid_arg(entry) for entry in entries)


def _scope_list(text: str) -> tuple[str, ...]:
    return tuple(_comma_list(text, "scope", "name at least one, or leave --scopes out for all"))


def _cmd_keys(args: argparse.Namespace) -> int:
    from shared.apikeys import (
        ALL_CLUSTERS,
        ALL_SCOPES,
        ApiKeyError,
        ClusterGrant,
        create_key,
        list_keys,
        revoke_key,
    )
    from shared.settings import DatabaseSettings

    settings = DatabaseSettings.from_env()
    with psycopg.connect(settings.url, autocommit=True) as conn:
        if args.keys_command == "create":
            if args.allow_unknown and args.all_clusters:
                raise SettingsError("--allow-unknown goes with --clusters, not --all-clusters")
            scopes: tuple[str, ...] = args.scopes or ALL_SCOPES
            clusters: ClusterGrant = ALL_CLUSTERS if args.all_clusters else args.clusters
            try:
                record, key = create_key(
                    conn,
                    args.organization,
                    args.name,
                    scopes,
                    clusters=clusters,
                    allow_unknown=args.allow_unknown,
                )
            except ApiKeyError as exc:
                raise SettingsError(str(exc)) from exc
            reach = (
                "all (including clusters added later)"
                if record.allowed_cluster_ids is None
                else ",".join(map(str, record.allowed_cluster_ids))
            )
            print(f"created key {record.prefix} for organization {record.organization_id}")
            print(f"scopes: {','.join(record.scopes)}")
            print(f"clusters: {reach}")
            print(f"secret (shown once): {key}")
        elif args.keys_command == "list":
            for record in list_keys(conn, args.organization):
                state = "revoked" if record.revoked_at else "active"
                allowed = (
                    "all clusters"
                    if record.allowed_cluster_ids is None
                    else ",".join(map(str, record.allowed_cluster_ids)) or "no clusters"
                )
                print(
                    f"{record.prefix}\t{state}\t{record.organization_id}\t{record.name}\t"
                    f"{','.join(record.scopes)}\t{allowed}"
                )
        elif not revoke_key(conn, args.prefix):
            print(f"no active key with prefix {args.prefix}", file=sys.stderr)
            return 1
        else:
            print(f"revoked {args.prefix}")
    return 0


def _cmd_export_focus(args: argparse.Namespace) -> int:
    from pathlib import Path

    from services.api.finops import focus
    from shared.progress import Labels, progress_for
    from shared.settings import ApiSettings, DatabaseSettings

    try:
        start, end = focus.parse_range(args.start, args.end)
    except focus.ExportError as exc:
        raise SettingsError(f"--{exc.parameter}: {exc}") from None
    output = Path(args.output)
    if not output.parent.is_dir():
        raise SettingsError(f"--output: no directory {str(output.parent)!r} to write into")
    database, api = DatabaseSettings.from_env(), ApiSettings.from_env()

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(database.url) as conn:
            clusters = await focus.export_clusters(conn, args.cluster, args.organization)
            request = focus.ExportRequest(
                start=start,
                end=end,
                granularity=focus.GRANULARITIES[args.granularity],
                cost_mode=focus.CostMode(args.cost_mode),
                clusters=clusters,
                currency=api.currency,
            )
            progress = progress_for(sys.stderr, 1000, Labels("focus export", "periods"))
            partial = output.with_name(output.name + ".partial")
            written = 0
            try:
                with partial.open("wb") as file:
                    async for chunk in focus.export_chunks(
                        conn, request, focus.FileFormat(args.format), progress
                    ):
                        file.write(chunk)
                        written += len(chunk)
            except BaseException:
                partial.unlink(missing_ok=True)  # never a truncated file under the real name
                raise
            partial.replace(output)
            return written

    try:
        written = asyncio.run(run())
    except focus.ExportError as exc:
        raise SettingsError(f"--{exc.parameter}: {exc}") from None
    print(f"wrote {output} ({written} bytes, FOCUS {focus.SPEC_VERSION}, {args.format})")
    return 0


def _cmd_kubecost_sim(args: argparse.Namespace) -> int:
    from services.kubecost_sim.model import SimConfig
    from services.kubecost_sim.server import run

    run(
        args.host,
        args.port,
        SimConfig(seed=args.seed, clusters=args.clusters, workloads_per_cluster=args.workloads),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="costpipe",
        description="Kubernetes cost pipeline: Kubecost/OpenCost -> Kafka -> TimescaleDB -> API.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=description,
            epilog=_environment(READS[name]),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    migrate = command(
        "migrate",
        "create or upgrade the database schema",
        "Apply pending schema migrations to COSTPIPE_DATABASE_URL (idempotent).",
    )
    migrate.set_defaults(func=_cmd_migrate)

    retention = command(
        "retention",
        "drop raw chunks older than the raw retention",
        "Drop chunks of the raw hypertables older than COSTPIPE_RAW_RETENTION_DAYS; the rollups "
        "are kept. Run it periodically (a daily CronJob); it does nothing when the retention is 0.",
    )
    retention.set_defaults(func=_cmd_retention)

    replay = command(
        "replay-dead-letters",
        "send dead letters back to their source topics",
        "Once the cause of dead letters is fixed, send each record of the dead-letter topic "
        "(original bytes and key) back to the topic it came from; the aggregator's writes are "
        "idempotent. Progress is kept in a consumer group of its own, so each dead letter is "
        "replayed once; a record still invalid is dead-lettered again.",
    )
    replay.add_argument(
        "--reason",
        default="",
        help="replay only dead letters whose reason starts with this text (default: all)",
    )
    replay.set_defaults(func=_cmd_replay_dead_letters)

    collector = command(
        "collector",
        "poll Kubecost/OpenCost and produce allocation events",
        "Poll each configured cluster's allocation API hour by hour (backfill, follow, re-poll "
        "the restatement window) and produce one event per allocation to Kafka.",
    )
    collector.add_argument("--once", action="store_true", help="one cycle per cluster, then exit")
    collector.add_argument(
        "--from",
        dest="start",
        type=_timestamp,
        help="collect this explicit range instead (ISO 8601), then exit",
    )
    collector.add_argument("--to", dest="end", type=_timestamp, help="end of the explicit range")
    collector.set_defaults(func=_cmd_collector)

    aggregator = command(
        "aggregator",
        "consume events into TimescaleDB raw rows and rollups",
        "Consume allocation events, write raw rows and the hourly/daily/weekly/monthly rollups "
        "in one transaction per batch, then commit offsets.",
    )
    aggregator.add_argument(
        "--exit-when-idle",
        type=float,
        metavar="SECONDS",
        help="exit after this many seconds without new events",
    )
    aggregator.set_defaults(func=_cmd_aggregator)

    api = command(
        "api",
        "serve the cost-trend and FinOps HTTP API",
        "Serve the HTTP API from the rollups on COSTPIPE_API_HOST:COSTPIPE_API_PORT.",
    )
    api.set_defaults(func=_cmd_api)

    dev = command(
        "dev",
        "run everything locally with a simulated Kubecost",
        "Start a local TimescaleDB and Kafka broker (persistent under --data-dir) unless "
        "COSTPIPE_DATABASE_URL / COSTPIPE_KAFKA_BOOTSTRAP point elsewhere, migrate, and run the "
        "collector (against the built-in Kubecost simulator unless COSTPIPE_KUBECOST_URL or "
        "COSTPIPE_COLLECTOR_CONFIG is set), the aggregator and the API. Ctrl+C stops it all.",
    )
    dev.add_argument("--data-dir", default=".costpipe/dev", help="where local data lives")
    dev.add_argument("--clusters", type=int, default=3, help="simulated clusters (default 3)")
    dev.add_argument(
        "--backfill-days",
        type=int,
        default=120,
        help="history to simulate and collect (default 120: enough for forecasts and anomalies)",
    )
    dev.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    dev.set_defaults(func=_cmd_dev)

    local = command(
        "local-services",
        "run only the local TimescaleDB and Kafka broker",
        "Start the local TimescaleDB (migrated) and Kafka broker, persistent under --data-dir "
        "(the same as `costpipe dev`'s), print the COSTPIPE_DATABASE_URL and "
        "COSTPIPE_KAFKA_BOOTSTRAP to export in other terminals, and run until Ctrl+C. Then start "
        "`costpipe collector`, `costpipe aggregator` and `costpipe api` by hand: their default "
        "ports differ (collector metrics 9100, aggregator metrics 9101, API 8080).",
    )
    local.add_argument("--data-dir", default=".costpipe/dev", help="where local data lives")
    local.set_defaults(func=_cmd_local_services)

    keys = command(
        "keys",
        "create, list and revoke API keys",
        "Manage API keys. Keys are stored hashed; the secret is printed once.",
    )
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser(
        "create",
        help="create a key and print its secret once",
        description="Create a key and print its secret once. A key reaches only the clusters it "
        "names (--clusters), or every cluster of the organization, present and future, when "
        "asked for by name (--all-clusters); one of the two is required.",
        epilog="scopes:\n"
        + "\n".join(f"  {scope}" for scope in ALL_SCOPES)
        + "\n"
        + _environment(READS["keys"]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--organization", required=True, type=_uuid_arg, metavar="UUID", help="organization UUID"
    )
    create.add_argument("--name", default="api key", help="a label for the key")
    create.add_argument(
        "--scopes",
        type=_scope_list,
        metavar="SCOPE[,SCOPE...]",
        help=f"comma-separated, from: {', '.join(ALL_SCOPES)} (default: all of them)",
    )
    reach = create.add_mutually_exclusive_group(required=True)
    reach.add_argument(
        "--clusters",
        type=_cluster_list,
        metavar="UUID[,UUID...]",
        help="comma-separated UUIDs of the organization's clusters the key may reach",
    )
    reach.add_argument(
        "--all-clusters",
        action="store_true",
        help="the key may reach every cluster of the organization, including ones added later",
    )
    create.add_argument(
        "--allow-unknown",
        action="store_true",
        help="accept --clusters ids not (yet) known in the organization, e.g. clusters whose "
        "first data has not arrived",
    )
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument(
        "--organization", type=_uuid_arg, metavar="UUID", help="only this organization's keys"
    )
    revoke = key_commands.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix", help="the key's prefix (second part of cpk_<prefix>_<secret>)")
    keys.set_defaults(func=_cmd_keys)

    export = command(
        "export",
        "export allocated cost in an open format",
        "Export cost from the rollups. `export focus` writes FinOps FOCUS 1.2 rows (see "
        "docs/focus.md).",
    )
    export_commands = export.add_subparsers(dest="export_format", required=True, metavar="FORMAT")
    focus_export = export_commands.add_parser(
        "focus",
        help="allocated cost as FOCUS 1.2 rows (CSV or Parquet)",
        description="Write one FOCUS row per charge period x cluster x namespace x workload "
        "(and the idle, unallocated and unmounted rows) for [--from, --to), UTC days. Money is "
        "exact (six decimals, the stored micro-units). The file is streamed (constant memory) "
        "and appears under its name only when complete.",
        epilog=_environment(READS["export"]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    focus_export.add_argument(
        "--from", dest="start", required=True, metavar="YYYY-MM-DD", help="first day (inclusive)"
    )
    focus_export.add_argument(
        "--to", dest="end", required=True, metavar="YYYY-MM-DD", help="last day (exclusive)"
    )
    focus_export.add_argument(
        "--cluster",
        action="append",
        type=_uuid_arg,
        metavar="UUID",
        help="only this cluster (repeatable; default: every cluster)",
    )
    focus_export.add_argument(
        "--organization", type=_uuid_arg, metavar="UUID", help="only this organization's clusters"
    )
    focus_export.add_argument("--granularity", choices=("daily", "hourly"), default="daily")
    focus_export.add_argument(
        "--cost-mode", choices=("fully_loaded", "workload_only"), default="fully_loaded"
    )
    focus_export.add_argument("--format", choices=("csv", "parquet"), default="csv")
    focus_export.add_argument("--output", required=True, metavar="FILE", help="file to write")
    export.set_defaults(func=_cmd_export_focus)

    sim = command(
        "kubecost-sim",
        "serve a simulated Kubecost/OpenCost API",
        "Answer the allocation and assets APIs for N synthetic clusters, deterministic "
        "from a seed. Cluster i is served under /clusters/i (cluster 0 also at /).",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9090)
    sim.add_argument("--clusters", type=int, default=3)
    sim.add_argument("--workloads", type=int, default=40, help="workloads per cluster")
    sim.add_argument("--seed", type=int, default=42)
    sim.set_defaults(func=_cmd_kubecost_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from shared.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        return int(args.func(args))
    except (SettingsError, MigrationError, ValueError) as exc:
        print(f"costpipe {args.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"costpipe {args.command}: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
