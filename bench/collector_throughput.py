"""Collector throughput: events produced per second from the simulator to the broker, against
producing the same pre-encoded events with aiokafka alone.

Measured in one run on one machine, against one broker:
- the collector: the simulator (`python -m services.kubecost_sim`, its own process, N clusters)
  is collected by the real collector code (fetch allocations and assets per chunk, map, encode,
  produce to both topics with acks=all, move the watermark in the database) for a backfill of
  `--hours`, timed from the first request until the last watermark moved. The simulator is asked
  for every window once before the timing (`_warm`), and keeps the encoded hours, so the timed
  fetches are served like a real Kubecost serves its ETL data instead of waiting for the
  simulator to generate them; `--cold-simulator` measures with generating included;
- the baseline: the records the collector left on the topics are read back, then produced again,
  same keys, same bytes, same producer settings (acks=all, idempotent, linger 20 ms), to fresh
  topics by a bare `AIOKafkaProducer`, timed from the first send to the last acknowledgement.
The ratio is collector rate / baseline rate: how much of the broker's rate the collector keeps.

Before reporting, the allocation events on the topic are checked against the simulator's ground
truth (their `total_cost` sums per cluster) and the event counts against the collector's stats.

Run: `python -m bench.collector_throughput [--clusters 3] [--workloads 40] [--hours 168]`.
A local TimescaleDB (for the collector's watermarks) and broker are started unless
COSTPIPE_DATABASE_URL and COSTPIPE_KAFKA_BOOTSTRAP name servers; results are one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.servers import Servers, bench_servers
from services.collector.config import CollectorConfig, parse_config
from services.collector.fetch import KubecostClient, RetryPolicy
from services.collector.producer import EventProducer, new_producer
from services.collector.runner import Collector, http_client
from services.collector.state import CollectorState
from services.collector.windows import grid_chunks
from services.kubecost_sim.model import SimConfig, ground_truth_total
from shared.db.pool import make_pool
from shared.events import AllocationDecoder
from shared.kafka import ensure_topics
from shared.localservices.process import free_port
from shared.progress import NoProgress
from shared.settings import DatabaseSettings, KafkaSettings
from shared.timewindows import floor_hour
from tests.support.collector_harness import read_topic
from tests.support.databases import fresh_database

SEED = 42
Record = tuple[bytes | None, bytes]  # key, value


@contextmanager
def _simulator(clusters: int, workloads: int, *, cache_mb: int = 0) -> Iterator[str]:
    """The simulator in its own process, so its CPU is not counted against the collector's."""
    port = free_port()
    options = {
        "--port": port,
        "--seed": SEED,
        "--clusters": clusters,
        "--workloads": workloads,
        "--cache-mb": cache_mb,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.kubecost_sim", *(f"{k}={v}" for k, v in options.items())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _kafka_settings(bootstrap: str, partitions: int) -> KafkaSettings:
    return KafkaSettings(
        bootstrap=bootstrap, partitions=partitions, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}."
    )


async def _run_collector(
    kafka: KafkaSettings, database_url: str, base_url: str, args: argparse.Namespace, now: datetime
) -> tuple[dict[str, Any], list[uuid.UUID]]:
    config = parse_config(
        {
            "defaults": {
                "backfill_days": 0,
                "restatement_hours": 0,
                "chunk_hours": args.chunk_hours,
            },
            "clusters": [
                {"name": f"bench-{i}", "base_url": f"{base_url}/clusters/{i}"}
                for i in range(args.clusters)
            ],
        }
    )
    await ensure_topics(kafka)
    producer = EventProducer(kafka)
    await producer.start()
    try:
        async with make_pool(DatabaseSettings(url=database_url), "bench-collector") as pool:
            state = CollectorState(pool)
            start = floor_hour(now) - timedelta(hours=args.hours)
            for cluster in config.clusters:  # the backfill starts here, as on a first start
                await state.register(cluster, "bench")
                await state.advance(cluster.id, start)
            collector = Collector(config, producer, state, clock=lambda: now, progress=NoProgress())
            warm_seconds = None if args.cold_simulator else await _warm(config, start, now)
            started = time.perf_counter()
            await collector.run(once=True)
            seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    stats = collector.stats.values()
    errors = {c.name: s.errors for c, s in zip(config.clusters, stats, strict=True) if s.errors}
    if errors:
        raise RuntimeError(f"the collector reported errors: {errors}")
    allocations = sum(s.events_produced for s in stats)
    assets = sum(s.asset_events_produced for s in stats)
    windows = sum(s.windows_fetched for s in stats)
    return {
        "seconds": round(seconds, 3),
        "allocation_events": allocations,
        "asset_events": assets,
        "events": allocations + assets,
        "chunks": windows,
        "events_per_s": round((allocations + assets) / seconds),
        "simulator_warm_up_seconds": None if warm_seconds is None else round(warm_seconds, 3),
    }, [c.id for c in config.clusters]


async def _warm(config: CollectorConfig, start: datetime, end: datetime) -> float:
    """Ask the simulator once for every window the collector will fetch, the same requests, so
    it generates and keeps them before the timing starts; returns how long that took.

    The timed run still fetches every response over HTTP and decodes and maps all of it; only
    the simulator's generating is left out, as a real Kubecost serves what its ETL already built
    (on other machines). `--cold-simulator` times generating too (how 0.11x was measured).
    """
    started = time.perf_counter()
    async with http_client(config) as http:
        for cluster in config.clusters:
            client = KubecostClient(cluster, http, RetryPolicy.from_config(config))
            for chunk_start, chunk_end in grid_chunks(start, end, config.chunk_hours):
                await client.allocation_steps(chunk_start, chunk_end)
                await client.asset_steps(chunk_start, chunk_end)
    return time.perf_counter() - started


async def _read(bootstrap: str, topic: str) -> list[Record]:
    records = await read_topic(bootstrap, topic, wait_seconds=None, max_records=10_000)
    return [(r.key, r.value) for r in records if r.value is not None]


async def _bare_produce(kafka: KafkaSettings, topics: dict[str, list[Record]]) -> float:
    """The same records, same settings as the collector's producer, no fetching or mapping."""
    await ensure_topics(kafka)
    producer = new_producer(kafka.bootstrap)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(topic, value, key=key)
            for topic, records in topics.items()
            for key, value in records
        ]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def _check(
    records: list[Record], clusters: list[uuid.UUID], sim: SimConfig, start: datetime, end: datetime
) -> dict[str, Any]:
    decoder = AllocationDecoder()
    totals: dict[uuid.UUID, int] = dict.fromkeys(clusters, 0)
    for _, value in records:
        event = decoder.decode(value)
        totals[event.cluster_id] += event.total_cost
    for index, cluster in enumerate(clusters):
        truth = ground_truth_total(sim, index, start, end) * 1_000_000
        if totals[cluster] != truth:
            raise RuntimeError(f"cluster {index}: events sum to {totals[cluster]}, truth {truth}")
    return {"allocation_totals_equal_ground_truth": True}


def measure(servers: Servers, args: argparse.Namespace) -> dict[str, Any]:
    now = floor_hour(datetime.now(UTC))
    start = now - timedelta(hours=args.hours)
    sim = SimConfig(seed=SEED, clusters=args.clusters, workloads_per_cluster=args.workloads)
    with (
        fresh_database(servers.database) as database_url,
        _simulator(args.clusters, args.workloads, cache_mb=0 if args.cold_simulator else 4096) as (
            base_url
        ),
    ):
        kafka = _kafka_settings(servers.kafka, args.partitions)
        collector, clusters = asyncio.run(_run_collector(kafka, database_url, base_url, args, now))

    async def read_back() -> dict[str, list[Record]]:
        return {
            "allocations": await _read(kafka.bootstrap, kafka.allocations_topic),
            "assets": await _read(kafka.bootstrap, kafka.assets_topic),
        }

    records = asyncio.run(read_back())
    counts = (len(records["allocations"]), len(records["assets"]))
    if counts != (collector["allocation_events"], collector["asset_events"]):
        raise RuntimeError(f"topics hold {counts} events, the collector counted otherwise")
    check = _check(records["allocations"], clusters, sim, start, now)
    baseline_kafka = _kafka_settings(servers.kafka, args.partitions)
    seconds = asyncio.run(
        _bare_produce(
            baseline_kafka,
            {
                baseline_kafka.allocations_topic: records["allocations"],
                baseline_kafka.assets_topic: records["assets"],
            },
        )
    )
    events = collector["events"]
    baseline = {"seconds": round(seconds, 3), "events_per_s": round(events / seconds)}
    return {
        "collector": collector,
        "baseline_bare_producer": baseline,
        "ratio_collector_to_bare_producer": round(
            collector["events_per_s"] / baseline["events_per_s"], 3
        ),
        "bytes_per_event": round(
            sum(len(v) for rs in records.values() for _, v in rs) / max(1, events)
        ),
        "check": check,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--workloads", type=int, default=40, help="workloads per cluster")
    parser.add_argument("--hours", type=int, default=168, help="hours backfilled per cluster")
    parser.add_argument("--chunk-hours", type=int, default=24)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--cold-simulator",
        action="store_true",
        help="let the simulator generate each hour while the collector waits (no warm-up)",
    )
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    with bench_servers(durable=False) as servers:
        measured = measure(servers, args)
    result = {
        "benchmark": "collector_throughput",
        "servers": servers.how,
        "cpus": os.cpu_count(),
        "clusters": args.clusters,
        "workloads_per_cluster": args.workloads,
        "hours": args.hours,
        "chunk_hours": args.chunk_hours,
        "simulator": "cold (generates on request)" if args.cold_simulator else "warm (kept steps)",
        **measured,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
