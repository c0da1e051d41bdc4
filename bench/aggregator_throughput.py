"""Aggregator throughput against the bare COPY floor, and lag under a steady offered load.

Measured in one run on one machine, against one database server and one broker:
- the floor: a binary COPY (psycopg `cursor.copy` with `set_types`, FORMAT BINARY) of the same
  rows into the same `allocation` hypertable of a fresh database, one transaction; the median of
  `--copy-runs` such runs;
- the pipeline: N events produced to a topic beforehand, then `costpipe aggregator` (one
  process, or `--instances` processes in one consumer group) timed from process start until the
  group has committed all of them (raw rows and every managed rollup level, one transaction per
  batch), on a second fresh database. Two rates: from process start (`events_per_s`, start-up
  included) and from the first commit on (`steady_events_per_s`, what a running pipeline
  sustains; the target is checked against this one);
- the lag: events offered at a fixed rate (a fraction of the measured pipeline rate) for a while,
  sampling the committed offsets against the end offsets.

After the pipeline runs, the raw row count and the rollup totals are checked against the events
(a fast pipeline that miscounts is not a result).

Run: `python -m bench.aggregator_throughput [--events 200000] [--instances 1] [--output f.json]`.
A local TimescaleDB and broker are started unless COSTPIPE_DATABASE_URL and
COSTPIPE_KAFKA_BOOTSTRAP name servers; results are printed as one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.process_cpu import process_seconds
from bench.servers import Servers, bench_servers
from services.aggregator.writer import RAW_LAYOUT
from services.collector.producer import EventProducer
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationEvent
from shared.ids import allocation_event_id, workload_uid
from shared.kafka import ensure_topics
from shared.progress import Labels, progress_for
from shared.settings import AggregatorSettings, KafkaSettings
from tests.support.aggregator_helpers import (
    ROLLUP_TABLES,
    CommitWatch,
    aggregator_process,
    committed_total,
    stop_gracefully,
    total,
    wait_for_commits,
)
from tests.support.databases import fresh_database

TARGET_RATIO = 0.5
PRELOAD = Labels("preload", "events")
PRELOAD_CHUNK = 20_000
ORGANIZATION = uuid.UUID("0000000a-0000-4000-8000-00000000a66e")
CLUSTERS = tuple(uuid.UUID(int=0xC1A0 + i) for i in range(3))
WORKLOADS_PER_CLUSTER = 400
FIRST_WINDOW = datetime(2024, 1, 1, tzinfo=UTC)
NIL = uuid.UUID(int=0)


def _events(count: int, first_hour: int) -> list[AllocationEvent]:
    """What the collector emits: every workload of every cluster once per hourly window."""
    produced = datetime.now(UTC)
    events: list[AllocationEvent] = []
    hour = first_hour
    while len(events) < count:
        start = FIRST_WINDOW + timedelta(hours=hour)
        for cluster in CLUSTERS:
            for w in range(WORKLOADS_PER_CLUSTER):
                namespace = f"ns-{w % 25}"
                name = f"{namespace}/app-{w}"
                cost = 1_000 + (w * 7919 + hour * 104_729) % 5_000_000
                events.append(
                    AllocationEvent(
                        schema_version=ALLOCATION_SCHEMA_VERSION,
                        event_id=allocation_event_id(cluster, start, name),
                        organization_id=ORGANIZATION,
                        cluster_id=cluster,
                        cluster_name=f"cluster-{cluster.int & 0xF}",
                        window_start=start,
                        window_end=start + timedelta(hours=1),
                        name=name,
                        namespace=namespace,
                        controller_kind="deployment",
                        controller=f"app-{w}",
                        pod=f"app-{w}-0",
                        node=f"node-{w % 40}",
                        node_group=("general", "spot", "gpu")[w % 3],
                        workload_uid=workload_uid(cluster, namespace, "deployment", f"app-{w}"),
                        team=f"team-{w % 6}",
                        cpu_cost=cost // 2,
                        ram_cost=cost - cost // 2,
                        total_cost=cost + cost // 10,
                        cost=cost,
                        idle_share=cost // 10,
                        minutes=60.0,
                        cpu_core_hours=0.25,
                        ram_byte_hours=512.0 * 1024 * 1024,
                        produced_at=produced,
                    )
                )
        hour += 1
    return events[:count]


def _raw_row(event: AllocationEvent) -> tuple[object, ...]:
    values: dict[str, object] = {name: getattr(event, name, None) for name, _ in RAW_LAYOUT}
    values.update(
        allocation_key=event.name, kind=event.kind.value, workload_uid=event.workload_uid or NIL
    )
    return tuple(values[name] for name, _ in RAW_LAYOUT)


def measure_copy(servers: Servers, events: list[AllocationEvent]) -> dict[str, Any]:
    rows = [_raw_row(e) for e in events]
    columns = ", ".join(name for name, _ in RAW_LAYOUT)
    with fresh_database(servers.database) as url, psycopg.connect(url) as conn:
        cpu_before = servers.cpu()
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY allocation ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([kind for _, kind in RAW_LAYOUT])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        seconds = time.perf_counter() - started
        cpu_after = servers.cpu()
        stored = conn.execute("SELECT count(*) FROM allocation").fetchone()
    if stored is None or stored[0] != len(rows):
        raise RuntimeError(f"COPY stored {stored} rows, not {len(rows)}")
    found = {
        "rows": len(rows),
        "seconds": round(seconds, 3),
        "rows_per_s": round(len(rows) / seconds),
    }
    if "database" in cpu_after:
        # What the database itself spends per row on the copy: the pipeline's database CPU per
        # event (pipeline.cpu) less this is what the rollups and dimensions add.
        used = cpu_after["database"] - cpu_before.get("database", 0.0)
        found["database_us_per_row"] = round(used / len(rows) * 1e6, 1)
    return found


def _env(servers: Servers, database_url: str, run_id: str) -> dict[str, str]:
    return {
        "COSTPIPE_DATABASE_URL": database_url,
        "COSTPIPE_KAFKA_BOOTSTRAP": servers.kafka,
        "COSTPIPE_KAFKA_TOPIC_PREFIX": f"bench-{run_id}.",
        "COSTPIPE_KAFKA_CONSUMER_GROUP": f"bench-{run_id}",
        "COSTPIPE_KAFKA_PARTITIONS": os.environ.get("COSTPIPE_KAFKA_PARTITIONS", "6"),
        "COSTPIPE_LOG_LEVEL": "WARNING",
    }


async def _offer(
    kafka: KafkaSettings, events: list[AllocationEvent], rate: float, seconds: float
) -> tuple[list[tuple[float, int, int, int]], int]:
    """Produce at `rate` events/s for `seconds` as the collector does, sampling (time, produced,
    end, committed); returns the samples and how many events were sent."""
    producer = EventProducer(kafka)
    # One long-lived client each for the samples: a client per sample loads the broker.
    ends_reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    partitions = [TopicPartition(kafka.allocations_topic, p) for p in range(kafka.partitions)]
    samples: list[tuple[float, int, int, int]] = []
    sent = 0
    async with contextlib.AsyncExitStack() as stack:
        await producer.start()
        stack.push_async_callback(producer.stop)
        await ends_reader.start()
        stack.push_async_callback(ends_reader.stop)
        await admin.start()
        stack.push_async_callback(admin.close)
        started = time.monotonic()
        next_sample = started
        while (now := time.monotonic()) - started < seconds and sent < len(events):
            due = min(len(events), int((now - started) * rate))
            if due > sent:
                await producer.send_all(events[sent:due])
                sent = due
            if now >= next_sample:
                ends = await ends_reader.end_offsets(partitions)
                done = await admin.list_consumer_group_offsets(
                    kafka.consumer_group, partitions=partitions
                )
                samples.append((now - started, sent, total(ends), committed_total(done)))
                next_sample = now + 0.5
            await asyncio.sleep(0.01)
    return samples, sent


def _lag_report(
    samples: list[tuple[float, int, int, int]], base: int, rate: float
) -> dict[str, Any]:
    """Lag in events (end - committed) and in seconds (how long ago the oldest uncommitted event
    was offered, from the offer schedule)."""
    events_behind = [max(0, end - done) for _, _, end, done in samples]
    seconds_behind = []
    for at, _, end, done in samples:
        oldest_pending = done - base  # index in the offered stream of the oldest uncommitted event
        seconds_behind.append(max(0.0, at - oldest_pending / rate) if done < end else 0.0)
    # The first seconds include the aggregator noticing the new load; report the steady part too.
    steady = [s for (at, *_), s in zip(samples, seconds_behind, strict=True) if at >= 5]
    return {
        "samples": len(samples),
        "p50_events": statistics.median(events_behind),
        "max_events": max(events_behind),
        "p50_seconds": round(statistics.median(seconds_behind), 3),
        "max_seconds": round(max(seconds_behind), 3),
        "steady_max_seconds": round(max(steady), 3) if steady else None,
    }


def _cpu_seconds(servers: Servers, processes: list[subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU used so far by the aggregator processes and (when this run started them) the
    servers."""
    return {"aggregator": sum(process_seconds(p.pid) for p in processes), **servers.cpu()}


def _cpu_report(
    before: dict[str, float],
    after: dict[str, float],
    events: int,
    seconds: float,
) -> dict[str, Any]:
    """CPU seconds each process spent between two readings, per event, and in cores (the share
    of the wall time it kept a core busy: on two cores, a sum near 2 means the run was bound by
    CPU, not by waiting)."""
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    return {
        "wall_seconds": round(seconds, 3),
        "seconds": {name: round(value, 2) for name, value in used.items()},
        "us_per_event": {name: round(value / events * 1e6, 1) for name, value in used.items()},
        "cores": {name: round(value / seconds, 2) for name, value in used.items()},
    }


def _check(database_url: str, events: list[AllocationEvent]) -> dict[str, Any]:
    expected_cost = sum(e.cost for e in events)
    expected_rows = len({(e.cluster_id, e.name, e.window_start) for e in events})
    with psycopg.connect(database_url) as conn:
        raw = conn.execute("SELECT count(*), sum(cost) FROM allocation").fetchone()
        levels = {
            table: conn.execute(f"SELECT sum(row_count), sum(cost) FROM {table}").fetchone()
            for table in ROLLUP_TABLES
        }
    for table, sums in {"allocation": raw, **levels}.items():
        if sums is None or (sums[0], sums[1]) != (expected_rows, expected_cost):
            raise RuntimeError(
                f"{table} holds (rows, cost) {sums}, expected {(expected_rows, expected_cost)}"
            )
    return {"raw_rows": expected_rows, "rollups_equal_raw_totals": True}


def measure_pipeline(
    servers: Servers,
    events: list[AllocationEvent],
    lag_seconds: float,
    lag_fraction: float,
    log_dir: Path,
    instances: int,
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:10]
    with fresh_database(servers.database) as database_url, ExitStack() as stack:
        env = _env(servers, database_url, run_id)
        kafka = KafkaSettings.from_env(env)
        settings = AggregatorSettings.from_env({**os.environ, **env})

        async def preload() -> None:
            await ensure_topics(kafka)
            # The collector's own producer: the topic holds what it would write (its batching).
            producer = EventProducer(kafka)
            progress = progress_for(sys.stderr, PRELOAD_CHUNK, PRELOAD)
            progress.begin("topic", len(events))
            await producer.start()
            try:
                for first in range(0, len(events), PRELOAD_CHUNK):
                    chunk = events[first : first + PRELOAD_CHUNK]
                    await producer.send_all(chunk)
                    progress.advance("topic", len(chunk))
                progress.end("topic")
            finally:
                await producer.stop()
                progress.close()

        produce_started = time.perf_counter()
        asyncio.run(preload())
        produce_seconds = time.perf_counter() - produce_started

        logs = [log_dir / f"aggregator-{run_id}-{n}.log" for n in range(instances)]
        with CommitWatch(kafka) as watch:
            servers_before = servers.cpu()
            started = time.monotonic()
            processes = [stack.enter_context(aggregator_process(env, log)) for log in logs]
            at_first: dict[str, float] = {}
            _, first_at, committed_first = watch.wait(
                len(events),
                list(zip(processes, logs, strict=True)),
                3600,
                poll_seconds=0.05,
                on_first=lambda: at_first.update(_cpu_seconds(servers, processes)),
            )
            seconds = time.monotonic() - started
            at_end = _cpu_seconds(servers, processes)
        if first_at is None:
            raise RuntimeError("the group had committed offsets before the aggregator started")
        first_commit = first_at - started
        rate = len(events) / seconds
        steady = (len(events) - committed_first) / (seconds - first_commit)
        after_first = len(events) - committed_first
        cpu = {
            "cpus": os.cpu_count(),
            "drain": _cpu_report(servers_before, at_end, len(events), seconds),
            # None when the first commit already covered every event (a small run).
            "steady": _cpu_report(at_first, at_end, after_first, seconds - first_commit)
            if after_first
            else None,
        }

        offered_rate = max(1.0, rate * lag_fraction)
        more = _events(int(offered_rate * lag_seconds) + 1, first_hour=5_000)
        samples, offered = asyncio.run(_offer(kafka, more, offered_rate, lag_seconds))
        for process, log in zip(processes, logs, strict=True):
            wait_for_commits(kafka, len(events) + offered, process, log, wait_seconds=600)
        for process, log in zip(processes, logs, strict=True):
            stop_gracefully(process, log)
        check = _check(database_url, events + more[:offered])

    return {
        "events": len(events),
        "instances": instances,
        "batch_max_events": settings.batch_max_events,
        "batch_max_ms": settings.batch_max_ms,
        "partitions": kafka.partitions,
        "preload_seconds": round(produce_seconds, 3),
        "seconds": round(seconds, 3),
        "events_per_s": round(rate),
        # From the first commit on: what the running pipeline sustains, without the start-up
        # (interpreter, imports, joining the consumer group) that `events_per_s` includes.
        "first_commit_seconds": round(first_commit, 3),
        "steady_events_per_s": round(steady),
        "cpu": cpu,
        "lag": {
            "offered_events_per_s": round(offered_rate),
            "offered_events": offered,
            "seconds": lag_seconds,
            **_lag_report(samples, len(events), offered_rate),
        },
        "check": check,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument(
        "--lag-fraction", type=float, default=0.5, help="offered load, share of pipeline rate"
    )
    parser.add_argument(
        "--batch-max-events",
        type=int,
        help="the aggregator's COSTPIPE_BATCH_MAX_EVENTS (default: the environment's, else 50000)",
    )
    parser.add_argument(
        "--instances", type=int, default=1, help="aggregator processes in the consumer group"
    )
    parser.add_argument(
        "--copy-runs", type=int, default=3, help="bare COPY runs; their median is the floor"
    )
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    if args.batch_max_events is not None:
        os.environ["COSTPIPE_BATCH_MAX_EVENTS"] = str(args.batch_max_events)
    events = _events(args.events, first_hour=0)
    log_dir = Path(tempfile.mkdtemp(prefix="costpipe-bench-logs-"))
    try:
        with bench_servers(durable=True) as servers:
            # The floor swings by 1.5x between single runs here (the disk's write speed at the
            # commit's flush): its median over a few runs is the baseline.
            runs = [measure_copy(servers, events) for _ in range(args.copy_runs)]
            copy = {
                **sorted(runs, key=lambda run: run["rows_per_s"])[len(runs) // 2],
                "runs_rows_per_s": [run["rows_per_s"] for run in runs],
            }
            pipeline = measure_pipeline(
                servers, events, args.lag_seconds, args.lag_fraction, log_dir, args.instances
            )
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    ratio = pipeline["events_per_s"] / copy["rows_per_s"]
    steady_ratio = pipeline["steady_events_per_s"] / copy["rows_per_s"]
    result = {
        "benchmark": "aggregator_throughput",
        "servers": servers.how,
        "cpus": os.cpu_count(),
        "copy": copy,
        "pipeline": pipeline,
        "ratio_pipeline_to_copy": round(ratio, 3),
        "steady_ratio_pipeline_to_copy": round(steady_ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": steady_ratio >= TARGET_RATIO,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
