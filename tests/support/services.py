"""Real TimescaleDB and Kafka for the tests, chosen in this order:

1. servers named by COSTPIPE_TEST_DATABASE_URL / COSTPIPE_TEST_KAFKA_BOOTSTRAP;
2. testcontainers, when a Docker engine answers (TimescaleDB and Apache Kafka images);
3. processes started here: a throwaway TimescaleDB cluster and the noida-db broker.

Every process or container started here is stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.localservices.kafka import LocalKafka
from shared.localservices.timescale import LocalTimescale

TIMESCALE_IMAGE = "timescale/timescaledb:2.19.3-pg15"
KAFKA_IMAGE = "apache/kafka:3.9.1"


@dataclass(frozen=True)
class Services:
    database_url: str
    kafka_bootstrap: str
    how: str


def _docker_answers() -> bool:
    """A Docker engine answers `GET /_ping` on its socket (checked without leaking sockets)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            hostname, _, port = host.removeprefix("tcp://").partition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (hostname, int(port or 2375))
        else:
            return False
    except (OSError, ValueError):
        return False
    with sock:
        sock.settimeout(3)
        try:
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and b" 200" in status_line
        except OSError:
            return False


@contextlib.contextmanager
def _containers() -> Iterator[Services]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        PostgresContainer(TIMESCALE_IMAGE, driver=None) as pg,
        KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka,
    ):
        url = pg.get_connection_url().replace("postgresql+psycopg2", "postgresql")
        yield Services(url, kafka.get_bootstrap_server(), "testcontainers")


@contextlib.contextmanager
def _local_processes() -> Iterator[Services]:
    root = Path(tempfile.mkdtemp(prefix="costpipe-test-"))
    root.chmod(0o755)  # the postgres user must be able to reach its data folder
    database = LocalTimescale(root / "pg", durable=False)
    broker = LocalKafka(root / "kafka")
    try:
        url = database.start()
        bootstrap = broker.start()
        yield Services(url, bootstrap, "local processes")
    finally:
        broker.stop()
        database.destroy()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def test_services() -> Iterator[Services]:
    url = os.environ.get("COSTPIPE_TEST_DATABASE_URL")
    bootstrap = os.environ.get("COSTPIPE_TEST_KAFKA_BOOTSTRAP")
    if url and bootstrap:
        yield Services(url, bootstrap, "environment")
    elif _docker_answers():
        with _containers() as services:
            yield services
    else:
        with _local_processes() as services:
            yield services
