"""The collector's bookkeeping in the real database: the watermark never moves backwards, and a
gap is resolved only by a fetch that covered all of it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.collector.config import parse_config
from tests.support.collector_harness import collector_harness

pytestmark = pytest.mark.integration

H = timedelta(hours=1)
T = datetime(2026, 3, 2, tzinfo=UTC)
CLUSTER = parse_config({"clusters": [{"name": "state", "base_url": "http://k"}]}).clusters[0]


async def test_watermark_only_moves_forward(pipeline_env: dict[str, str]) -> None:
    async with collector_harness(pipeline_env) as harness:
        state = harness.state
        await state.register(CLUSTER, "org")
        assert await state.watermark(CLUSTER.id) is None
        await state.advance(CLUSTER.id, T + 5 * H)
        await state.advance(CLUSTER.id, T + 2 * H)  # a late, older chunk
        assert await state.watermark(CLUSTER.id) == T + 5 * H
        assert await state.watermark(uuid.uuid4()) is None


async def test_gaps_resolve_only_when_covered_whole(pipeline_env: dict[str, str]) -> None:
    async with collector_harness(pipeline_env) as harness:
        state = harness.state
        await state.register(CLUSTER, "org")
        await state.record_gap(CLUSTER.id, T, T + 6 * H, "timeout", 3)
        await state.record_gap(CLUSTER.id, T, T + 6 * H, "HTTP 503", 2)  # failed again
        await state.resolve_gaps(CLUSTER.id, T, T + 4 * H)  # part of it only
        assert await state.open_gaps(CLUSTER.id) == [(T, T + 6 * H)]
        (row,) = await harness.gaps()
        assert (row[3], row[4]) == ("HTTP 503", 5)

        await state.resolve_gaps(CLUSTER.id, T - H, T + 6 * H)
        assert await state.open_gaps(CLUSTER.id) == []

        await state.record_gap(CLUSTER.id, T, T + 3 * H, "timeout", 4)  # fails again later
        (row,) = await harness.gaps()
        assert (row[2], row[4], row[5]) == (T + 3 * H, 4, None)  # counted afresh
