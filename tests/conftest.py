"""Session-wide real services, and per-test isolation on top of them.

Each test gets its own database (created and migrated from scratch) and its own topic prefix and
consumer group, so tests never see each other's data even though they share one server and one
broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from shared.db.migrations import migrate
from tests.support.services import Services, test_services


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with test_services() as found:
        yield found


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def database_url(services: Services) -> Iterator[str]:
    name = "costpipe_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(services.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(services.database_url, name)
    migrate(url)
    yield url
    with psycopg.connect(services.database_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pipeline_env(services: Services, database_url: str) -> dict[str, str]:
    """Environment for costpipe processes: this test's database, topics and consumer group."""
    run_id = uuid.uuid4().hex[:10]
    return {
        "COSTPIPE_DATABASE_URL": database_url,
        "COSTPIPE_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "COSTPIPE_KAFKA_TOPIC_PREFIX": f"test-{run_id}.",
        "COSTPIPE_KAFKA_CONSUMER_GROUP": f"test-{run_id}",
        "COSTPIPE_KAFKA_PARTITIONS": "3",
    }
