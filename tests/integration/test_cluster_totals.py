"""Per-cluster totals stay equal to the GROUP BY of the raw rows through restatements that move
rows between groups and replays of older versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support.pipeline import aggregate, allocation, produce

pytestmark = pytest.mark.integration

ORG = uuid.UUID("0000000a-0000-4000-8000-00000000c0de")
CLUSTERS = [uuid.uuid5(ORG, f"c{i}") for i in range(2)]
START = datetime(2026, 3, 30, 22, tzinfo=UTC)  # spans a day, a week (Monday) and a month edge
HOUR = timedelta(hours=1)
LEVELS = (("hourly", "1 hour"), ("daily", "1 day"), ("weekly", "1 week"), ("monthly", "1 month"))


def test_cluster_totals_match_raw_rows(pipeline_env: dict[str, str]) -> None:
    first = datetime(2026, 4, 1, tzinfo=UTC)
    later = first + timedelta(minutes=5)
    events = []
    for c, cluster in enumerate(CLUSTERS):
        for h in range(60):
            hour = START + h * HOUR
            for w in range(3):
                common = {
                    "organization_id": ORG,
                    "cluster_id": cluster,
                    "window_start": hour,
                    "window_end": hour + HOUR,
                    "name": f"w{w}",
                }
                events.append(
                    allocation(
                        **common,
                        cost=1_000 * (w + 1) + h,
                        idle_share=7 * w,
                        namespace=f"ns{w}",
                        produced_at=first,
                    )
                )
                if (h + w + c) % 5 == 0:  # a restatement that moves the row to another group
                    events.append(
                        allocation(
                            **common,
                            cost=333 + h,
                            idle_share=w,
                            namespace="moved",
                            node_group="g",
                            produced_at=later,
                        )
                    )
    # Replays of the first versions after the restatements must change nothing.
    events += [e for e in events if e.produced_at == first][:50]
    produce(pipeline_env, events)
    aggregate(pipeline_env)
    with psycopg.connect(pipeline_env["COSTPIPE_DATABASE_URL"]) as conn:
        for name, width in LEVELS:
            expected = conn.execute(
                f"SELECT time_bucket('{width}', window_start) AS b, cluster_id, count(*),"
                " sum(cost), sum(idle_share), sum(cpu_cost) FROM allocation GROUP BY 1, 2"
                " ORDER BY 2, 1"
            ).fetchall()
            stored = conn.execute(
                f"SELECT bucket, cluster_id, row_count, cost, idle_share, cpu_cost"
                f" FROM cost_cluster_{name} ORDER BY 2, 1"
            ).fetchall()
            assert stored == expected, name
            assert len(stored) > 1
        moved = conn.execute("SELECT count(*) FROM allocation WHERE namespace = 'moved'").fetchone()
        assert moved is not None
        assert moved[0] > 0
