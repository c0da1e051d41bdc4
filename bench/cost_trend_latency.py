"""Cost-trend API latency on a year of hourly data, against a floor and a naive peer.

Measured side by side in one run on one machine:
- the floor: a trivial endpoint of the same app (`/healthz`), over the same HTTP stack;
- each cost-trend endpoint (one-year monthly, 30-day daily, 7-day hourly), served from rollups;
- the naive peer: the same answers computed from the raw `allocation` rows, timed as SQL on the
  same database, next to the rollup SQL the endpoint runs.

The data set is generated in SQL (the benchmark measures reads, not ingestion): hourly raw rows
for C clusters x W workloads over D days, 50 nodes per cluster billed every hour, and rollups built
as the GROUP BY of those rows, which is the state the aggregator maintains (the aggregator's
property test checks that equality).

A last section times every FinOps endpoint (X-API-Key) on the same data and API process.

Run: `python -m bench.cost_trend_latency [--workloads 2000 --clusters 3 --days 365]`.
Prints one JSON document; figures are ratios to the floor measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

from services.aggregator.rollups import USAGE_MEASURES
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.localservices.timescale import LocalTimescale
from tests.support.databases import fresh_database
from tests.support.processes import running_api

ORG = uuid.UUID("0000000a-0000-4000-8000-0000000000be")
# The usage columns, summed as the aggregator sums them (the same expressions).
_RAW_USAGE = ", ".join(f"sum({e.format(t='')})" for e in USAGE_MEASURES.values())
_ROLLUP_USAGE = ", ".join(f"sum({c})" for c in USAGE_MEASURES)


@contextmanager
def _server() -> Iterator[str]:
    configured = os.environ.get("COSTPIPE_DATABASE_URL")
    if configured:
        yield configured
        return
    root = Path(tempfile.mkdtemp(prefix="costpipe-bench-"))
    root.chmod(0o755)
    database = LocalTimescale(root / "pg", durable=False)
    try:
        yield database.start()
    finally:
        database.destroy()


def _generate(url: str, clusters: int, workloads: int, days: int, end: datetime) -> dict[str, Any]:
    start = end - timedelta(days=days)
    cluster_ids = [uuid.uuid5(ORG, f"bench-cluster-{i}") for i in range(clusters)]
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO organization (id, name) VALUES (%s, 'bench')", (ORG,))
        for index, cluster_id in enumerate(cluster_ids):
            conn.execute(
                "INSERT INTO cluster (id, organization_id, name) VALUES (%s, %s, %s)",
                (cluster_id, ORG, f"bench-{index}"),
            )
            conn.execute(
                "INSERT INTO workload (uid, cluster_id, namespace, kind, name, first_seen,"
                " last_seen) SELECT md5(%(ct)s || w)::uuid, %(c)s, 'ns-' || (w %% 40),"
                " 'deployment', 'wl-' || w, %(start)s, %(end)s"
                " FROM generate_series(1, %(w)s) AS w",
                {
                    "c": cluster_id,
                    "ct": str(cluster_id),
                    "w": workloads,
                    "start": start,
                    "end": end,
                },
            )
            # One raw row per workload per hour; cost varies by hour and workload, in micro-units.
            conn.execute(
                "INSERT INTO allocation SELECT %(c)s, 'wl-' || w || '-pod', h,"
                " h + interval '1 hour', gen_random_uuid(), 'workload', 'ns-' || (w %% 40),"
                " 'deployment', 'wl-' || w, 'wl-' || w || '-pod', '', 'node-' || (w %% 50),"
                " 'group-' || (w %% 3), md5(%(ct)s || w)::uuid, 'svc-' || (w %% 25),"
                " 'team-' || (w %% 7), 'user-' || (w %% 30),"
                " c, 0, 0, 0, 0, 0, 0, 0, c + c / 4, c, c / 4,"
                # CPU usage 0.05-0.5 of a 0.5-core request: some workloads are oversized.
                " 60, 0.5, 0.5, 0.05 * (1 + w %% 10), 1e9, 1e9, 5e8, 0, 0, 0, now(), now()"
                " FROM generate_series(1, %(w)s) AS w,"
                " generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval"
                " '1 hour', interval '1 hour') AS h,"
                " LATERAL (SELECT (10000 + (w * 7919 + extract(epoch FROM h)::bigint / 3600"
                " * 104729) %% 90000)::bigint AS c) AS costs",
                {
                    "c": cluster_id,
                    "ct": str(cluster_id),
                    "w": workloads,
                    "start": start,
                    "end": end,
                },
            )
            # The nodes those pods ran on (what node-group answers read): 50 per cluster in three
            # groups, one asset row per node and hour, each node at a fixed hourly price.
            conn.execute(
                "INSERT INTO asset_cost (cluster_id, asset_key, window_start, window_end,"
                " event_id, asset_type, name, provider_id, node_group, cpu_cost, ram_cost,"
                " gpu_cost, adjustment, total_cost, discount, cpu_cores, ram_bytes, gpu_count,"
                " bytes, minutes, produced_at)"
                " SELECT %(c)s, 'node-' || n, h, h + interval '1 hour', gen_random_uuid(), 'node',"
                " 'node-' || n, 'i-' || n, 'group-' || (n %% 3), c - c / 4, c / 4, 0, 0, c, 0,"
                " 8, 3.2e10, 0, 0, 60, now()"
                " FROM generate_series(0, 49) AS n,"
                " generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval"
                " '1 hour', interval '1 hour') AS h,"
                " LATERAL (SELECT (300000 + (n * 7919) %% 200000)::bigint AS c) AS costs",
                {"c": cluster_id, "start": start, "end": end},
            )
        hourly_is_view = conn.execute(
            "SELECT relkind = 'v' FROM pg_class WHERE relname = 'cost_hourly'"
        ).fetchone() == (True,)
        for table, interval in (
            ("cost_hourly", "1 hour"),
            ("cost_daily", "1 day"),
            ("cost_weekly", "1 week"),
            ("cost_monthly", "1 month"),
        ):
            # In managed mode cost_hourly is a view of the raw rows (migration 0007).
            if table != "cost_hourly" or not hourly_is_view:
                conn.execute(
                    f"INSERT INTO {table} SELECT time_bucket('{interval}', window_start), cluster_id,"
                    " namespace, workload_uid, node_group, service, team, owner, kind, count(*),"
                    " sum(cost), sum(idle_share), sum(cpu_cost), sum(gpu_cost), sum(ram_cost),"
                    " sum(pv_cost), sum(network_cost), sum(load_balancer_cost), sum(shared_cost),"
                    f" sum(external_cost), {_RAW_USAGE}"
                    " FROM allocation GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
                )
            conn.execute(
                f"INSERT INTO {table.replace('cost_', 'cost_cluster_')} SELECT bucket,"
                " cluster_id, sum(row_count), sum(cost), sum(idle_share), sum(cpu_cost),"
                " sum(gpu_cost), sum(ram_cost), sum(pv_cost), sum(network_cost),"
                " sum(load_balancer_cost), sum(shared_cost), sum(external_cost),"
                f" {_ROLLUP_USAGE} FROM {table} GROUP BY bucket, cluster_id"
            )
            conn.execute(
                f"INSERT INTO {table.replace('cost_', 'cost_node_group_')} SELECT bucket,"
                " cluster_id, node_group, sum(row_count), sum(cost), sum(idle_share),"
                " sum(cpu_cost), sum(gpu_cost), sum(ram_cost), sum(pv_cost), sum(network_cost),"
                " sum(load_balancer_cost), sum(shared_cost), sum(external_cost),"
                f" {_ROLLUP_USAGE} FROM {table} GROUP BY bucket, cluster_id, node_group"
            )
            conn.execute(
                f"INSERT INTO {table.replace('cost_', 'node_cost_')} SELECT"
                f" time_bucket('{interval}', window_start), cluster_id, asset_type, node_group,"
                " count(*), sum(cpu_cost), sum(ram_cost), sum(gpu_cost), sum(adjustment),"
                " sum(total_cost) FROM asset_cost GROUP BY 1, 2, 3, 4"
            )
        conn.execute("VACUUM ANALYZE")
        raw_rows = conn.execute("SELECT count(*) FROM allocation").fetchone()
    return {
        "clusters": [str(c) for c in cluster_ids],
        "raw_rows": raw_rows[0] if raw_rows else 0,
        "generation_seconds": round(time.perf_counter() - began, 1),
        "start": start,
        "end": end,
    }


def _measure(call: Callable[[], object], requests: int) -> dict[str, float]:
    for _ in range(min(20, requests)):
        call()
    began = time.perf_counter()
    samples = [_timed(call) for _ in range(requests)]
    elapsed = time.perf_counter() - began
    return {**_summary(samples), "requests_per_second": round(requests / elapsed, 1)}


def _timed(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000


def _summary(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }


def _measure_beside_floor(
    floor: Callable[[], object], call: Callable[[], object], requests: int
) -> dict[str, float]:
    """`call` and the floor in turns, so that both meet the same load of a shared machine; the
    ratio is of the two p50s."""
    for _ in range(min(20, requests)):
        call()
    floor_samples, samples = [], []
    for _ in range(requests):
        floor_samples.append(_timed(floor))
        samples.append(_timed(call))
    stats = _summary(samples)
    stats["floor_p50_ms"] = _summary(floor_samples)["p50_ms"]
    stats["p50_vs_floor"] = round(stats["p50_ms"] / stats["floor_p50_ms"], 2)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--workloads", type=int, default=2000, help="per cluster")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--finops-requests", type=int, default=50, help="per FinOps endpoint")
    args = parser.parse_args(argv)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    results: dict[str, Any] = {"parameters": vars(args)}
    with _server() as server, fresh_database(server) as url:
        data = _generate(url, args.clusters, args.workloads, args.days, end)
        results["dataset"] = {k: data[k] for k in ("raw_rows", "generation_seconds")}
        with psycopg.connect(url, autocommit=True) as conn:
            key = create_key(conn, ORG, "bench", ALL_SCOPES, clusters=ALL_CLUSTERS)[1]
        cluster = data["clusters"][0]
        year_start = int((end - timedelta(days=365)).timestamp())
        now = int(end.timestamp())
        queries: dict[str, tuple[str, dict[str, Any]]] = {
            "cluster_year_monthly": (
                f"/v1/clusters/{cluster}/cost-trend",
                {"start": year_start, "end": now, "granularity": "monthly", "type": "breakdown"},
            ),
            "cluster_30d_daily": (
                f"/v1/clusters/{cluster}/cost-trend",
                {"start": now - 30 * 86400, "end": now, "granularity": "daily"},
            ),
            "namespace_year_monthly": (
                f"/v1/clusters/{cluster}/namespaces/ns-1/cost-trend",
                {"start": year_start, "end": now, "granularity": "monthly", "type": "breakdown"},
            ),
            "node_group_7d_hourly": (
                f"/v1/clusters/{cluster}/node-groups/group-1/cost-trend",
                {"start": now - 7 * 86400, "end": now},
            ),
            "organization_year_monthly": (
                "/v1/organizations/dashboard/cost-trend",
                {"start": year_start, "end": now, "granularity": "monthly", "type": "breakdown"},
            ),
        }
        env = {
            "COSTPIPE_DATABASE_URL": url,
            "COSTPIPE_KAFKA_BOOTSTRAP": "127.0.0.1:9",
            "COSTPIPE_RATE_LIMIT_PER_MINUTE": "0",
        }
        with running_api(env) as base, httpx.Client(base_url=base, timeout=120) as client:
            headers = {"Authorization": f"Bearer {key}"}
            time.sleep(STARTUP_IMPORT_SECONDS)  # see below: the API's background import
            floor = _measure(lambda: client.get("/healthz").raise_for_status(), args.requests)
            results["floor_healthz"] = floor
            endpoints = {}
            for name, (path, params) in queries.items():

                def call(p: str = path, q: dict[str, Any] = params) -> None:
                    client.get(p, params=q, headers=headers).raise_for_status()

                stats = _measure(call, args.requests)
                stats["p50_vs_floor"] = round(stats["p50_ms"] / floor["p50_ms"], 2)
                endpoints[name] = stats
            results["endpoints"] = endpoints
            uncached = {**env, "COSTPIPE_API_ANSWER_CACHE_ENTRIES": "0"}
            with (
                running_api(uncached) as computing_base,
                httpx.Client(base_url=computing_base, timeout=120) as computing,
            ):
                # An API imports statsmodels in a background thread once it is up (seconds of
                # CPU, holding the GIL); requests timed meanwhile would measure that import.
                time.sleep(STARTUP_IMPORT_SECONDS)
                results["finops"] = _finops_latency(
                    computing, client, key, floor["p50_ms"], args.finops_requests
                )
        results["sql_rollup_vs_raw"] = _sql_comparison(url, cluster, year_start, now)
    json.dump(results, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def _sql_comparison(url: str, cluster: str, start: int, end: int) -> dict[str, Any]:
    """The one-year monthly answer from the monthly rollup and from raw rows, same connection."""
    window = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
    rollup = (
        "SELECT bucket, sum(cost + idle_share) FROM cost_cluster_monthly WHERE cluster_id = %s"
        " AND bucket >= time_bucket('1 month', %s::timestamptz) AND bucket < %s GROUP BY bucket"
    )
    naive = (
        "SELECT time_bucket('1 month', window_start) AS b, sum(cost + idle_share)"
        " FROM allocation WHERE cluster_id = %s AND window_start >= time_bucket('1 month',"
        " %s::timestamptz) AND window_start < %s GROUP BY b"
    )
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        answers = {}
        timings = {}
        for name, query, runs in (("rollup", rollup, 50), ("raw", naive, 5)):
            params = (cluster, *window)
            answers[name] = sorted(conn.execute(query, params).fetchall())
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter()
                conn.execute(query, params).fetchall()
                samples.append((time.perf_counter() - t0) * 1000)
            timings[name] = round(statistics.median(samples), 3)
    return {
        "rollup_p50_ms": timings["rollup"],
        "raw_p50_ms": timings["raw"],
        "raw_over_rollup": round(timings["raw"] / timings["rollup"], 1),
        "same_answer": answers["rollup"] == answers["raw"],
    }


# --- FinOps endpoints -------------------------------------------------------------------------
# One request shape per endpoint of spec/finops-costs-api.md, on the same data and against the
# same floor, asked of two API processes: one that keeps nothing (every request computed from the
# rollups) and one with the default answer cache (answers kept until their clusters' data
# version changes; the benchmark's data does not change, so its repeated requests are served from
# the kept answer). costs/realtime is left out: it asks the clusters' Kubecost, not the database.
# Forecast and anomaly answers are also stored in the database once per input: their first
# request (the fit) is timed on its own; after it the computing API reads the stored fit. Each
# request of an endpoint follows one to `/healthz` of the same process: the ratio is of the p50s
# of the two, both met the same load.
FINOPS: dict[str, tuple[str, dict[str, str]]] = {
    "costs/monthly": ("/costs/monthly", {}),
    "costs/daily": ("/costs/daily", {}),
    "costs/services": ("/costs/services", {}),
    "costs/historical by team": ("/costs/historical", {"groupBy": "team"}),
    "costs/breakdown by namespace": ("/costs/breakdown", {}),
    "costs/trends 30d daily": ("/costs/trends", {}),
    "costs/top-drivers": ("/costs/top-drivers", {}),
    "costs/efficiency by namespace": ("/costs/efficiency", {}),
    "costs/savings": ("/costs/savings", {}),
    "dashboard": ("/dashboard", {}),
    "dashboard/stats": ("/dashboard/stats", {}),
    "dashboard/top-drivers": ("/dashboard/top-drivers", {}),
    "data-health": ("/data-health", {}),  # not kept: it reports the pipeline's state now
    "costs/anomalies": ("/costs/anomalies", {}),
    "costs/forecast": ("/costs/forecast", {}),
}
STARTUP_IMPORT_SECONDS = 20.0
FINOPS_STORED = frozenset({"costs/anomalies", "costs/forecast"})


def _finops_latency(
    computing: httpx.Client, keeping: httpx.Client, key: str, floor_ms: float, requests: int
) -> dict[str, dict[str, Any]]:
    headers = {"X-API-Key": key}
    results: dict[str, dict[str, Any]] = {}
    for name, (path, params) in FINOPS.items():

        def call(client: httpx.Client, path: str = path, params: dict[str, str] = params) -> None:
            url = "/api/v1/finops" + path
            client.get(url, params=params, headers=headers, timeout=300).raise_for_status()

        def floor(client: httpx.Client) -> None:
            client.get("/healthz").raise_for_status()

        row: dict[str, Any] = {}
        if name in FINOPS_STORED:
            t0 = time.perf_counter()
            call(computing)
            first_ms = (time.perf_counter() - t0) * 1000
            row["first request (fitted)"] = {
                "p50_ms": round(first_ms, 3),
                "p50_vs_floor": round(first_ms / floor_ms, 2),
            }
        for label, client in (("computed", computing), ("kept", keeping)):
            row[label] = _measure_beside_floor(
                partial(floor, client), partial(call, client), requests
            )
        results[name] = row
    return results


if __name__ == "__main__":
    sys.exit(main())
