"""A fresh, migrated database on the test server, dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg

from shared.db.migrations import migrate


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = "costpipe_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    try:
        # Managed unless asked otherwise, so the suite behaves the same on both builds.
        migrate(url, os.environ.get("COSTPIPE_ROLLUP_MODE") or "managed")
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def topic_env(kafka_bootstrap: str, database_url: str) -> dict[str, str]:
    """Environment for costpipe processes with topics and a consumer group of their own."""
    run_id = uuid.uuid4().hex[:10]
    return {
        "COSTPIPE_DATABASE_URL": database_url,
        "COSTPIPE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "COSTPIPE_KAFKA_TOPIC_PREFIX": f"test-{run_id}.",
        "COSTPIPE_KAFKA_CONSUMER_GROUP": f"test-{run_id}",
        "COSTPIPE_KAFKA_PARTITIONS": "3",
    }
