"""When only the assets API fails, allocations still flow and the watermark moves; the window is a
gap (reason `assets: ...`) that a later successful fetch of both APIs resolves."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from shared.timewindows import floor_hour
from tests.support.collector_harness import collector_config, collector_harness
from tests.support.collector_logs import logged_lines
from tests.support.replay import Route, opencost_routes, replay_server

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # daily chunks, one day of backfill: one window
TARGET = floor_hour(NOW)
START = TARGET - timedelta(days=1)


async def test_allocations_flow_when_only_assets_fail(pipeline_env: dict[str, str]) -> None:
    routes = opencost_routes()
    recorded_assets = routes["/assets"]
    routes["/assets"] = Route(b'{"code":500,"status":"error","message":"no assets"}', status=500)
    with replay_server(routes) as opencost:
        config = collector_config(
            [{"name": "no-assets", "base_url": opencost.base_url, "flavor": "opencost"}],
            chunk_hours=24,
            max_attempts=2,
        )
        cluster = config.clusters[0]
        async with collector_harness(pipeline_env) as harness:
            collector = harness.collector(config, NOW)
            await collector.run(once=True)
            gaps = await harness.gaps()
            watermarks = await harness.watermarks()
            events = await harness.events()

            routes["/assets"] = recorded_assets  # the next pass (restatement) heals the gap
            with logged_lines("services.collector.cluster") as lines:
                await collector.run(once=True)
            healed = await harness.gaps()
            (healed_by,) = await harness.fetch(
                "SELECT healed_by_start, healed_by_end, healed_by_fetch, opened_at FROM collector_gap"
            )
    stats = collector.stats[cluster.id]
    assert watermarks == {cluster.id: TARGET}
    assert len(events) == 3  # the recording's three namespaces, without node groups
    assert all(e.node_group == "" for e in events)
    assert [g[1:5] for g in gaps] == [(START, TARGET, "assets: HTTP 500", 2)]
    assert stats.errors == {"assets_http_500": 1}
    # Second pass only: the restatement chunk and the gap retry each bring the node and the disk.
    assert stats.asset_events_produced == 4
    assert healed[0][-1] is not None
    # The heal names the fetch that healed it, and that fetch's log line says so.
    assert healed_by[:2] == (START, TARGET)
    assert re.fullmatch("[0-9a-f]{16}", healed_by[2])
    heal_lines = [line for line in lines if "healed by fetch" in line]
    assert heal_lines == [
        f"cluster no-assets: gap {START.isoformat()}..{TARGET.isoformat()} (assets: HTTP 500,"
        f" 2 attempt(s), opened {healed_by[3].isoformat()}) healed by fetch {healed_by[2]}"
        f" of {START.isoformat()}..{TARGET.isoformat()}"
    ]
