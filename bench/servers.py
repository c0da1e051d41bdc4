"""The database server and broker a benchmark runs against.

Servers named by COSTPIPE_DATABASE_URL and COSTPIPE_KAFKA_BOOTSTRAP when both are set (to measure
on real infrastructure), else a local TimescaleDB and broker started for the run and removed
after it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.process_cpu import postmaster_pid, tree_seconds
from shared.localservices.kafka import LocalKafka
from shared.localservices.timescale import LocalTimescale


@dataclass(frozen=True)
class Servers:
    database: str
    kafka: str
    how: str
    # CPU seconds used so far by each server the run started ({"broker": .., "database": ..});
    # nothing for configured servers, whose processes the run cannot see.
    cpu: Callable[[], dict[str, float]] = dict


@contextmanager
def bench_servers(*, durable: bool) -> Iterator[Servers]:
    """`durable` keeps the database's fsync on, as a COPY-rate floor needs; off otherwise."""
    database = os.environ.get("COSTPIPE_DATABASE_URL")
    kafka = os.environ.get("COSTPIPE_KAFKA_BOOTSTRAP")
    if database and kafka:
        yield Servers(database, kafka, "configured")
        return
    root = Path(tempfile.mkdtemp(prefix="costpipe-bench-"))
    root.chmod(0o755)  # the postgres user must reach its data folder
    timescale = LocalTimescale(root / "pg", durable=durable)
    broker = LocalKafka(root / "kafka")
    how = "local processes (durable database)" if durable else "local processes"

    def cpu() -> dict[str, float]:
        found: dict[str, float] = {}
        if broker.pid is not None:
            found["broker"] = tree_seconds(broker.pid)
        postmaster = postmaster_pid(timescale.data_dir)
        if postmaster is not None:
            found["database"] = tree_seconds(postmaster)
        return found

    try:
        yield Servers(timescale.start(), broker.start(), how, cpu)
    finally:
        broker.stop()
        timescale.destroy()
        shutil.rmtree(root, ignore_errors=True)
