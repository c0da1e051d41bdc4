"""One seeded API for the auth matrix and the fuzzer: seeding through the real pipeline costs
seconds, the checks themselves only requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.seeded_api import SeededApi, seeded_api
from tests.support.services import Services


@pytest.fixture(scope="package")
def seeded(services: Services) -> Iterator[SeededApi]:
    with seeded_api(services) as api:
        yield api
