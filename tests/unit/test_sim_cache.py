"""The simulator's kept steps: the same bytes as generating again, within their budget."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from services.kubecost_sim.cache import StepCache
from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import build_app

NOW = datetime(2026, 3, 2, tzinfo=UTC)
SIM = SimConfig(seed=5, clusters=1, workloads_per_cluster=3, now=NOW)


def test_the_cache_keeps_within_its_budget_dropping_the_least_recent() -> None:
    cache = StepCache(budget_bytes=10)
    made: list[str] = []

    def make(key: str) -> bytes:
        made.append(key)
        return key.encode() * 4

    for key in ("a", "b", "a", "c"):  # "a" used again, so "b" is the one dropped for "c"
        cache.get(key, lambda key=key: make(key))
    cache.get("a", lambda: make("a"))
    cache.get("b", lambda: make("b"))
    assert made == ["a", "b", "c", "b"]
    assert StepCache(0).get("x", lambda: b"fresh") == b"fresh"


async def test_kept_steps_are_served_byte_identical() -> None:
    params = {
        "window": "2026-03-01T00:00:00Z,2026-03-01T06:00:00Z",
        "accumulate": "false",
        "step": "1h",
    }
    answers = []
    for cache_bytes in (0, 64 * 1024 * 1024, 64 * 1024 * 1024):
        app = build_app(SIM, cache_bytes=cache_bytes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            for path in ("/model/allocation", "/model/assets", "/model/allocation"):
                answers.append((path, (await client.get(path, params=params)).content))
    by_path: dict[str, set[bytes]] = {}
    for path, body in answers:
        by_path.setdefault(path, set()).add(body)
    assert all(len(bodies) == 1 for bodies in by_path.values())
