"""FOCUS export: rows per second and peak memory of `costpipe export focus`, against the database
copying the same rollup rows out, in one run on one machine.

- the export: `costpipe export focus` as its own process (CSV and Parquet, daily rows over 7, 30
  and 90 days, hourly rows over 7 days), timed from start to exit; its peak resident memory is
  the child's `ru_maxrss`, so it includes the interpreter and the libraries loaded;
- the baseline: `COPY (SELECT ... FROM cost_daily | cost_hourly ...) TO STDOUT` of the rollup
  rows the export reads (same spans, same clusters), read by psycopg and thrown away: the rate at
  which the database alone hands those rows out;
- the memory baseline: `costpipe export --help` run the same way (the process with nothing
  exported). Rows are fetched 5,000 at a time and written a row group (10,000 rows) at a time,
  so the peak grows until the first full row group and stays flat after it.

The data set is the one bench/cost_trend_latency.py generates (hourly raw rows for C clusters x
W workloads over D days, rollups as their GROUP BY).

Run: `python -m bench.focus_export [--clusters 3 --workloads 100 --days 90]`; one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq

from bench.cost_trend_latency import _generate, _server
from tests.support.databases import fresh_database
from tests.support.processes import COSTPIPE, environment

RUNS = (  # (granularity, days back from the end)
    ("daily", 7),
    ("daily", 30),
    ("daily", 90),
    ("hourly", 7),
    ("hourly", 30),  # past ten row groups: the peak must not grow with the rows
)
TABLES = {"daily": "cost_daily", "hourly": "cost_hourly"}


def _run_measured(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB and stdout of `costpipe <args>` run to its end; the process
    is reaped with wait4, which reports that child's own peak (RUSAGE_CHILDREN would be the
    largest of every child so far)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*COSTPIPE, *args], env=environment(env), stdin=subprocess.DEVNULL, stdout=out,
            stderr=err,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"costpipe {' '.join(args)} failed: {err.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss // 1024, out.read().decode()


def _rows(path: Path, file_format: str) -> int:
    if file_format == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as file:
        return sum(1 for _ in file) - 1  # the header


def _copy_seconds(url: str, table: str, start: datetime, end: datetime) -> tuple[float, int]:
    """The database alone: COPY of the rollup rows of the span, received and discarded."""
    query = (
        f"COPY (SELECT * FROM {table} WHERE bucket >= '{start.isoformat()}'"
        f" AND bucket < '{end.isoformat()}') TO STDOUT"
    )
    rows = 0
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(query) as copy:
            for block in copy:
                rows += bytes(block).count(b"\n")
        return time.perf_counter() - started, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--workloads", type=int, default=100, help="per cluster")
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args(argv)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    results: dict[str, Any] = {"parameters": vars(args)}
    with _server() as server, fresh_database(server) as url, tempfile.TemporaryDirectory() as tmp:
        data = _generate(url, args.clusters, args.workloads, args.days, end)
        results["dataset"] = {k: data[k] for k in ("raw_rows", "generation_seconds")}
        env = {"COSTPIPE_DATABASE_URL": url, "COSTPIPE_LOG_LEVEL": "WARNING"}
        idle_seconds, idle_mib, _ = _run_measured(["export", "--help"], env)
        results["process_without_export"] = {
            "seconds": round(idle_seconds, 2),
            "peak_mib": idle_mib,
        }
        runs = []
        for granularity, days in RUNS:
            if days > args.days:
                continue
            start = end - timedelta(days=days)
            copy_seconds, copy_rows = _copy_seconds(url, TABLES[granularity], start, end)
            for file_format in ("csv", "parquet"):
                output = Path(tmp) / f"focus-{granularity}-{days}.{file_format}"
                seconds, peak, _ = _run_measured(
                    ["export", "focus", "--from", start.date().isoformat(),
                     "--to", end.date().isoformat(), "--granularity", granularity,
                     "--format", file_format, "--output", str(output)],
                    env,
                )  # fmt: skip
                rows = _rows(output, file_format)
                runs.append(
                    {
                        "granularity": granularity,
                        "days": days,
                        "format": file_format,
                        "rows": rows,
                        "seconds": round(seconds, 2),
                        "rows_per_second": round(rows / seconds),
                        "peak_mib": peak,
                        "bytes": output.stat().st_size,
                        "copy_rows_per_second": round(copy_rows / copy_seconds),
                        "rate_vs_copy": round((rows / seconds) / (copy_rows / copy_seconds), 3),
                        "peak_vs_no_export": round(peak / idle_mib, 2),
                    }
                )
                output.unlink()
        results["runs"] = runs
    json.dump(results, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
