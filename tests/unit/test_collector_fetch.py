"""Which failures are retried and how they are reported, over real HTTP to a replay server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from services.collector.config import parse_config
from services.collector.fetch import FetchError, KubecostClient, RetryPolicy
from tests.support.replay import ReplayServer, Route, opencost_routes, replay_server

START = datetime(2023, 7, 12, tzinfo=UTC)
END = datetime(2023, 7, 13, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    """One server for the module (each test sets its own route): starting one costs ~0.5 s."""
    with replay_server(opencost_routes(), quiet_disconnects=True) as replay:
        yield replay


async def _fetch(
    server: ReplayServer, route: Route, http_timeout: float = 5.0
) -> tuple[list[str], FetchError | int]:
    """Categories of the retries made, and the error raised (or the number of steps)."""
    retried: list[str] = []
    server.routes["/model/allocation"] = route
    config = parse_config({"clusters": [{"name": "c", "base_url": server.base_url}]})
    async with httpx.AsyncClient(timeout=http_timeout) as http:
        client = KubecostClient(config.clusters[0], http, FAST, on_retry=retried.append)
        try:
            return retried, len(await client.allocation_steps(START, END))
        except FetchError as exc:
            return retried, exc


async def test_a_good_answer_is_not_retried(server: ReplayServer) -> None:
    body = opencost_routes()["/allocation"].body
    assert await _fetch(server, Route(body)) == ([], 1)  # the recording is one 7-day step


@pytest.mark.parametrize(
    ("route", "category", "attempts"),
    [
        (Route(b"{}", status=503), "http_503", 3),
        (Route(b"{}", status=429), "http_429", 3),
        (Route(b'{"code":200,"data":[{"a":', status=200), "bad_response", 3),
        (Route(b'{"code":500,"message":"query failed"}'), "bad_response", 3),
        (Route(b"{}", status=404), "http_404", 1),  # asking again will not change the answer
        (Route(b"{}", status=401), "http_401", 1),
    ],
)
async def test_failures_are_retried_only_when_asking_again_can_help(
    server: ReplayServer, route: Route, category: str, attempts: int
) -> None:
    retried, error = await _fetch(server, route)
    assert isinstance(error, FetchError)
    assert (error.category, error.attempts) == (category, attempts)
    assert retried == [category] * (attempts - 1)


async def test_a_server_slower_than_the_timeout_is_a_timeout(server: ReplayServer) -> None:
    retried, error = await _fetch(server, Route(b"{}", delay=0.5), http_timeout=0.1)
    assert isinstance(error, FetchError)
    assert error.category == "timeout"
    assert error.reason.startswith("timeout")
    assert retried == ["timeout", "timeout"]
