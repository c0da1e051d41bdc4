"""Session-wide real services, and per-test isolation on top of them.

Each test gets its own database (created and migrated from scratch) and its own topic prefix and
consumer group, so tests never see each other's data even though they share one server and one
broker.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import fresh_database, topic_env
from tests.support.services import Services, test_services


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with test_services() as found:
        yield found


@pytest.fixture
def database_url(services: Services) -> Iterator[str]:
    with fresh_database(services.database_url) as url:
        yield url


@pytest.fixture
def pipeline_env(services: Services, database_url: str) -> dict[str, str]:
    """Environment for costpipe processes: this test's database, topics and consumer group."""
    return topic_env(services.kafka_bootstrap, database_url)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A folder the `postgres` user can reach, for a test's own TimescaleDB (pytest's own tmp
    folders are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="costpipe-scratch-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
