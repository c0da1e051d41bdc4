"""`costpipe dev`: the whole pipeline on one machine, on its embedded defaults; and
`costpipe local-services`: only the local database and broker, for running each service by hand.

Starts what is not configured (a persistent TimescaleDB and Kafka broker under the data folder,
the Kubecost simulator), migrates, creates an API key, and runs collector, aggregator and API in
one process until Ctrl+C, then stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from services.aggregator.service import aggregator_service
from services.api.finops.pipeline_lag import LagReader
from services.api.service import api_service
from services.collector.config import (
    CollectorConfig,
    load_config,
    parse_config,
)
from services.collector.service import collector_service
from services.runtime import stop_on_signals
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.db.migrations import migrate
from shared.localservices.kafka import LocalKafka
from shared.localservices.timescale import LocalTimescale
from shared.settings import (
    AGGREGATOR_METRICS_PORT,
    AggregatorSettings,
    ApiSettings,
    DatabaseSettings,
    KafkaSettings,
    OpsSettings,
)
from shared.timewindows import floor_hour

log = logging.getLogger("costpipe.dev")
HOUR = timedelta(hours=1)


@contextlib.contextmanager
def _local_database(data_dir: Path) -> Iterator[str]:
    configured = os.environ.get("COSTPIPE_DATABASE_URL")
    if configured:
        yield configured
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    database = LocalTimescale(data_dir / "timescaledb")
    url = database.start()
    log.info("TimescaleDB running at %s (data in %s)", url, database.data_dir)
    try:
        yield url
    finally:
        database.stop()


@contextlib.contextmanager
def _local_broker(data_dir: Path) -> Iterator[str]:
    configured = os.environ.get("COSTPIPE_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    broker = LocalKafka(data_dir / "kafka")
    bootstrap = broker.start()
    log.info("Kafka broker running at %s", bootstrap)
    try:
        yield bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def _collector_config(clusters: int, backfill_days: int) -> Iterator[CollectorConfig]:
    if os.environ.get("COSTPIPE_COLLECTOR_CONFIG") or os.environ.get("COSTPIPE_KUBECOST_URL"):
        yield load_config()
        return
    from services.kubecost_sim.model import SimConfig
    from services.kubecost_sim.server import serve_in_thread

    with serve_in_thread(SimConfig(clusters=clusters)) as base_url:
        log.info("Kubecost simulator serving %d clusters at %s", clusters, base_url)
        yield parse_config(
            {
                "defaults": {
                    "backfill_days": backfill_days,
                    "poll_interval_seconds": 60.0,
                    "chunk_hours": 24,
                },
                "clusters": [
                    {"name": f"sim-cluster-{i}", "base_url": f"{base_url}/clusters/{i}"}
                    for i in range(clusters)
                ],
            }
        )


def _api_key(url: str, organization_id: uuid.UUID) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organization (id, name) VALUES (%s, 'default') ON CONFLICT DO NOTHING",
            (organization_id,),
        )
        _, key = create_key(
            conn, organization_id, "costpipe dev", ALL_SCOPES, clusters=ALL_CLUSTERS
        )
    return key


async def _announce_ready(
    url: str, kafka: KafkaSettings, cluster_ids: list[uuid.UUID], stop: asyncio.Event
) -> None:
    """Print `ready: N days loaded` once the backfill has landed: every cluster's watermark is
    within an hour of now (the collector fetched it all) and the aggregator has consumed every
    event (no lag). Until then answers are partial, which a newcomer cannot tell by looking."""
    started = time.monotonic()
    lag = LagReader(kafka)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2.0)
        try:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cursor = await conn.execute(
                    "SELECT min(watermark), count(*) FROM collector_watermark"
                    " WHERE cluster_id = ANY(%s)",
                    (cluster_ids,),
                )
                oldest, count = await cursor.fetchone() or (None, 0)
                if count < len(cluster_ids) or oldest < floor_hour(datetime.now(UTC)) - HOUR:
                    continue
                report = await lag.read()
                if report.total != 0:
                    continue
                cursor = await conn.execute(
                    "SELECT count(DISTINCT bucket) FROM cost_cluster_daily WHERE cluster_id = ANY(%s)",
                    (cluster_ids,),
                )
                days = (await cursor.fetchone() or (0,))[0]
        except psycopg.OperationalError:
            continue
        print(
            f"ready: {days} days loaded for {len(cluster_ids)} clusters "
            f"({time.monotonic() - started:.0f} s after start); every endpoint has its data.",
            flush=True,
        )
        return


def run_dev(data_dir: str, clusters: int, backfill_days: int, api_port: int) -> int:
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with (
        _local_database(root) as database_url,
        _local_broker(root) as bootstrap,
        _collector_config(clusters, backfill_days) as collector_config,
    ):
        env = {
            **os.environ,
            "COSTPIPE_DATABASE_URL": database_url,
            "COSTPIPE_KAFKA_BOOTSTRAP": bootstrap,
        }
        database = DatabaseSettings.from_env(env)
        kafka = KafkaSettings.from_env(env)
        api = ApiSettings(host=os.environ.get("COSTPIPE_API_HOST", "127.0.0.1"), port=api_port)
        migrate(database.url, database.rollup_mode)
        organization = collector_config.clusters[0].organization_id
        key = _api_key(database.url, organization)
        first = collector_config.clusters[0].id
        base = f"http://{api.host}:{api.port}"
        print(
            f"\ncostpipe is running.\n  API:      {base}\n  API key:  {key}\n"
            f"  clusters: {', '.join(f'{c.name}={c.id}' for c in collector_config.clusters)}\n"
            f"  organization: {organization}\n"
            f"  database: {database.url}\n  broker:   {kafka.bootstrap}\n"
            f'  try:      curl -H "Authorization: Bearer {key}" '
            f'"{base}/v1/clusters/{first}/cost-trend?start=$(( $(date +%s) - 7*86400 ))'
            f'&end=$(date +%s)&type=breakdown&granularity=daily"\n'
            "  In another terminal, for `costpipe keys ...` and the other commands:\n"
            f"    export COSTPIPE_DATABASE_URL='{database.url}' "
            f"COSTPIPE_KAFKA_BOOTSTRAP='{kafka.bootstrap}'\n"
            f"  backfill: {backfill_days} days of {len(collector_config.clusters)} clusters is "
            "running in the background (progress below); answers fill in as it lands. Wait for "
            "'ready' for complete ones.\n"
            "Press Ctrl+C to stop.\n",
            flush=True,
        )
        cluster_ids = [c.id for c in collector_config.clusters]

        async def main() -> None:
            stop = stop_on_signals()
            tasks = [
                asyncio.create_task(collector_service(database, kafka, collector_config, stop)),
                # One process: the aggregator's endpoints expose every service's metrics.
                asyncio.create_task(
                    aggregator_service(
                        database,
                        kafka,
                        AggregatorSettings.from_env(),
                        stop,
                        ops=OpsSettings.from_env(default_port=AGGREGATOR_METRICS_PORT),
                    )
                ),
                asyncio.create_task(api_service(database, api, stop, kafka)),
            ]
            ready = asyncio.create_task(_announce_ready(database.url, kafka, cluster_ids, stop))
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            ready.cancel()
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    log.error("a service failed: %r", result)

        asyncio.run(main())
        print("costpipe dev stopped.", file=sys.stderr)
    return 0


def run_local_services(data_dir: str) -> int:
    """The local TimescaleDB (migrated) and Kafka broker alone, until Ctrl+C or SIGTERM; prints
    the `export` lines that let `costpipe collector`, `aggregator`, `api` and `keys` find them
    from other terminals. Data persists under `data_dir`, shared with `costpipe dev`."""
    import signal
    import threading

    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with _local_database(root) as database_url, _local_broker(root) as bootstrap:
        database = DatabaseSettings.from_env({"COSTPIPE_DATABASE_URL": database_url})
        migrate(database.url, database.rollup_mode)
        print(
            "\nLocal services are running. In another terminal:\n"
            f"  export COSTPIPE_DATABASE_URL='{database_url}'\n"
            f"  export COSTPIPE_KAFKA_BOOTSTRAP='{bootstrap}'\n"
            "then start each service by hand: `costpipe collector` (with COSTPIPE_KUBECOST_URL "
            "or COSTPIPE_COLLECTOR_CONFIG), `costpipe aggregator`, `costpipe api`.\n"
            "Press Ctrl+C to stop.\n",
            flush=True,
        )
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        stopped.wait()
    print("local services stopped.", file=sys.stderr)
    return 0
