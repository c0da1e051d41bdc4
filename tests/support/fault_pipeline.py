"""The whole pipeline as separate processes over servers a test may stop: its own TimescaleDB and
Kafka broker, the simulator behind a proxy that fails on demand, and `costpipe collector`,
`costpipe aggregator` and `costpipe api` as real processes.

What the tests look at is what an operator sees: the API's cost-trend totals, compared with the
simulator's ground truth to the API's last decimal, and the data-health report.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg

from services.api.cost_trend import HOURS_PER_MONTH
from services.collector.config import DEFAULT_ORGANIZATION_ID
from services.kubecost_sim.model import SimConfig, ground_truth_total
from services.kubecost_sim.server import serve_in_thread
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.db.migrations import migrate
from shared.localservices.kafka import LocalKafka
from shared.localservices.timescale import LocalTimescale
from shared.settings import KafkaSettings
from shared.timewindows import isoformat_z
from tests.support.aggregator_helpers import CommitWatch, end_offsets, tail, total
from tests.support.collector_harness import FAST_DEFAULTS, collector_config
from tests.support.faulty_kubecost import FaultySource, faulty_source
from tests.support.processes import running_api, start_costpipe

HOUR = timedelta(hours=1)
API_PLACES = Decimal("0.000001")  # the cost-trend API's last decimal (micro-units)
T = TypeVar("T")

COLLECTOR_DEFAULTS = {
    **FAST_DEFAULTS,
    "backfill_days": 2,
    "chunk_hours": 3,
    "restatement_hours": 2,
    "max_attempts": 2,
    "request_timeout_seconds": 1.0,
    "poll_interval_seconds": 1.0,
}
PROCESS_ENV = {
    "COSTPIPE_KAFKA_PARTITIONS": "3",
    "COSTPIPE_BATCH_MAX_EVENTS": "500",
    "COSTPIPE_BATCH_MAX_MS": "100",
    "COSTPIPE_RETRY_BACKOFF_SECONDS": "0.5",
    "COSTPIPE_API_DATABASE_TIMEOUT_SECONDS": "1",
}


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def _config_toml(names: list[str], source: FaultySource) -> str:
    lines = ["[defaults]"] + [f"{k} = {_toml_value(v)}" for k, v in COLLECTOR_DEFAULTS.items()]
    for index, name in enumerate(names):
        lines += ["[[clusters]]", f'name = "{name}"', f'base_url = "{source.url(index)}"']
    return "\n".join(lines) + "\n"


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, logs: Callable[[], str] = str
) -> T:
    """Poll `probe` until it returns something other than None (or False); on a timeout the
    failure quotes `logs()`, read then (the processes' logs as they stand at the failure)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}\n{logs()}")
        time.sleep(0.5)


@dataclass
class FaultPipeline:
    root: Path
    database: LocalTimescale
    broker: LocalKafka
    source: FaultySource
    sim: SimConfig
    env: dict[str, str]
    cluster_ids: list[uuid.UUID]
    key: str = ""
    api: str = ""
    collector: subprocess.Popen[bytes] | None = None
    aggregator: subprocess.Popen[bytes] | None = None
    aggregator_2: subprocess.Popen[bytes] | None = None
    faults_survived: list[str] = field(default_factory=list)
    _api_stack: ExitStack = field(default_factory=ExitStack)

    @property
    def log(self) -> Path:
        return self.root / "processes.log"

    def logs(self) -> str:
        return tail(self.log, 30) if self.log.exists() else ""

    # --- processes --------------------------------------------------------------------------

    def start_collector(self) -> None:
        self.collector = start_costpipe(["collector"], self.env, self.log)

    def start_aggregator(self) -> None:
        self.aggregator = start_costpipe(["aggregator"], self.env, self.log)

    def start_api(self) -> None:
        self._api_stack.close()
        self._api_stack = ExitStack()
        self.api = self._api_stack.enter_context(running_api(self.env, timeout=180))

    @staticmethod
    def kill(process: subprocess.Popen[bytes] | None) -> None:
        """SIGKILL: no drain, no final commit, no goodbye."""
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait(timeout=30)

    def start_second_aggregator(self, metrics_port: int) -> None:
        """A second aggregator in the same group, with the same environment but for its metrics
        port (so the test can read which partitions each one owns)."""
        self.aggregator_2 = start_costpipe(
            ["aggregator"], {**self.env, "COSTPIPE_METRICS_PORT": str(metrics_port)}, self.log
        )

    def commit_watch(self) -> CommitWatch:
        return CommitWatch(KafkaSettings.from_env(self.env))

    # --- what an operator sees ----------------------------------------------------------------

    def data_health(self) -> httpx.Response:
        return httpx.get(
            f"{self.api}/api/v1/finops/data-health",
            params={"window": "24h"},
            headers={"X-API-Key": self.key},
            timeout=30,
        )

    def health_when(self, what: str, check: Callable[[httpx.Response], bool]) -> httpx.Response:
        """The first data-health answer for which `check` holds (the report of an outage)."""

        def probe() -> httpx.Response | None:
            try:
                response = self.data_health()
            except httpx.TransportError:
                return None
            return response if check(response) else None

        return wait_for(f"data-health {what}", probe, 60, self.logs)

    def produced(self) -> int:
        """Records on the allocations topic so far (the collector re-polls recent hours every
        cycle, so a working collector keeps this growing)."""
        kafka = KafkaSettings.from_env(self.env)
        ends = asyncio.run(end_offsets(kafka.bootstrap, kafka.allocations_topic, kafka.partitions))
        return total(ends)

    def collector_produces(self, timeout: float = 20) -> bool:
        before = self.produced()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(1)
            if self.produced() > before:
                return True
        return False

    def watermarks(self) -> dict[uuid.UUID, datetime]:
        with psycopg.connect(self.env["COSTPIPE_DATABASE_URL"]) as conn:
            rows = conn.execute("SELECT cluster_id, watermark FROM collector_watermark").fetchall()
        return {row[0]: row[1] for row in rows}

    def api_hours(self, cluster_id: uuid.UUID, start: datetime, end: datetime) -> dict[str, str]:
        response = httpx.get(
            f"{self.api}/v1/clusters/{cluster_id}/cost-trend",
            params={
                "start": str(int(start.timestamp())),
                "end": str(int(end.timestamp())),
                "granularity": "hourly",
                "type": "run_rate",
            },
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )
        response.raise_for_status()
        points = response.json()["data"]["points"]
        return {p["bucket_start"]: p["total_cost"]["amount"] for p in points}

    def truth_hours(self, index: int, start: datetime, end: datetime) -> dict[str, str]:
        truth = {}
        hour = start
        while hour < end:
            # An hourly point is the hour's run rate: its cost projected to a 730-hour month,
            # so each hour's exact cost times 730 is what the API must show.
            exact = ground_truth_total(self.sim, index, hour, hour + HOUR) * HOURS_PER_MONTH
            truth[isoformat_z(hour)] = str(exact.quantize(API_PLACES, ROUND_HALF_EVEN))
            hour += HOUR
        return truth

    def totals_differ(self) -> str | None:
        """Where the API and the ground truth disagree, over the two days each cluster's
        watermark closes; None when every hour of every cluster agrees."""
        watermarks = self.watermarks()
        for index, cluster_id in enumerate(self.cluster_ids):
            end = watermarks.get(cluster_id)
            if end is None:
                return f"cluster {index} has no watermark"
            start = end - timedelta(days=int(COLLECTOR_DEFAULTS["backfill_days"]))
            found = self.api_hours(cluster_id, start, end)
            wanted = self.truth_hours(index, start, end)
            wrong = {h: (found.get(h), v) for h, v in wanted.items() if found.get(h) != v}
            if wrong:
                return (
                    f"cluster {index}: {len(wrong)} hours differ, e.g. {sorted(wrong.items())[:2]}"
                )
        return None

    def wait_until_exact(self, timeout: float = 150) -> dict[str, Any]:
        """Until the API's totals equal the ground truth to the last decimal, and data-health
        says healthy with no open collector gap. Returns that data-health report."""
        last: list[str] = []

        def probe() -> dict[str, Any] | None:
            try:
                difference = self.totals_differ()
                health = self.data_health()
            except (httpx.HTTPError, psycopg.OperationalError) as exc:
                last[:] = [repr(exc)]
                return None
            if difference is not None or health.status_code != 200:
                last[:] = [difference or health.text[:300]]
                return None
            body: dict[str, Any] = health.json()
            gaps = sum(c["open_collector_gaps"] for c in body["clusters"])
            if body["status"] != "healthy" or gaps:
                last[:] = [f"status {body['status']}, {gaps} open gaps"]
                return None
            return body

        try:
            return wait_for("totals equal to the ground truth", probe, timeout, self.logs)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast difference: {last}") from None

    def stop(self) -> None:
        self._api_stack.close()
        for process in (self.collector, self.aggregator, self.aggregator_2):
            self.kill(process)


@contextmanager
def fault_pipeline(sim: SimConfig) -> Iterator[FaultPipeline]:
    root = Path(tempfile.mkdtemp(prefix="costpipe-reliability-"))
    root.chmod(0o755)  # the postgres user must reach its data folder
    database = LocalTimescale(root / "pg", durable=True)
    broker = LocalKafka(root / "kafka")
    pipeline: FaultPipeline | None = None
    try:
        url = database.start()
        migrate(url)
        bootstrap = broker.start()
        with serve_in_thread(sim) as sim_url, faulty_source(sim_url) as source:
            names = [f"reliability-{i}" for i in range(sim.clusters)]
            config = collector_config(
                [{"name": n, "base_url": source.url(i)} for i, n in enumerate(names)]
            )
            (root / "clusters.toml").write_text(_config_toml(names, source))
            run_id = uuid.uuid4().hex[:8]
            env = {
                **PROCESS_ENV,
                "COSTPIPE_DATABASE_URL": url,
                "COSTPIPE_KAFKA_BOOTSTRAP": bootstrap,
                "COSTPIPE_KAFKA_TOPIC_PREFIX": f"reliability-{run_id}.",
                "COSTPIPE_KAFKA_CONSUMER_GROUP": f"reliability-{run_id}",
                "COSTPIPE_COLLECTOR_CONFIG": str(root / "clusters.toml"),
            }
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO organization (id, name) VALUES (%s, 'reliability')",
                    (DEFAULT_ORGANIZATION_ID,),
                )
                key = create_key(
                    conn, DEFAULT_ORGANIZATION_ID, "sre", ALL_SCOPES, clusters=ALL_CLUSTERS
                )[1]
            pipeline = FaultPipeline(
                root, database, broker, source, sim, env, [c.id for c in config.clusters], key
            )
            yield pipeline
    finally:
        if pipeline is not None:
            pipeline.stop()
        with contextlib.suppress(Exception):
            broker.stop()
        database.destroy()
        shutil.rmtree(root, ignore_errors=True)
