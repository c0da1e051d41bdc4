"""Cost-trend series from the rollups: bucket sums, zero-filled, as breakdown or run rate.

Decisions (see docs/api.md): the window is widened to whole buckets (`start` floored to its
bucket's anchor, `end` raised to the next anchor); every bucket from the anchored start up to the
current one appears, zero when it holds no cost; buckets that have not begun are left out.
Run rate projects a bucket's cost to a 730-hour month (365 days x 24 h / 12) from the hours of the
bucket that have elapsed, so the bucket in progress is not under-stated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from psycopg import sql

from services.api.trend_params import CostMode, TrendQuery, TrendType
from shared.db.pool import Conn
from shared.money import MICROS_PER_UNIT
from shared.timewindows import Resolution, bucket_start, buckets, floor_hour, next_bucket

HOURS_PER_MONTH = 730
_RESOLUTION_NAMES = {
    Resolution.HOURLY: "hourly",
    Resolution.DAILY: "daily",
    Resolution.WEEKLY: "weekly",
    Resolution.MONTHLY: "monthly",
}


@dataclass(frozen=True)
class RollupFamily:
    """The rollup relations a scope reads (one per granularity) and what their amount is.

    Allocation families carry both cost modes (`cost`, `idle_share`). The node-cost family is
    the nodes' bill instead: Kubecost's `totalCost` of each node asset (after discount and
    adjustment), which has one value whatever the cost mode, so `mode` is not consulted there.
    """

    prefix: str
    node_bill: bool = False

    def table(self, granularity: Resolution) -> str:
        return self.prefix + _RESOLUTION_NAMES[granularity]

    def rows(self) -> sql.Composable:
        """The rows of the family's relations that carry its amount: for the node bill, node
        assets only (disks and load balancers have their own rows, with no node group)."""
        return sql.SQL("asset_type = 'node'") if self.node_bill else sql.SQL("TRUE")

    def amount(self, mode: CostMode | None) -> sql.Composable:
        if self.node_bill:
            return sql.SQL("sum(total_cost)")
        if mode is CostMode.WORKLOAD_ONLY:
            return sql.SQL("sum(cost)")
        return sql.SQL("sum(cost + idle_share)")


# Namespaces and workloads filter the detailed rollups on their dimension; whole clusters read
# the per-cluster totals (one row per bucket); node groups read the node-cost rollups, whose rows
# are per (cluster, bucket, asset type, node group).
DETAILED = RollupFamily("cost_")
CLUSTER_TOTALS = RollupFamily("cost_cluster_")
NODE_BILL = RollupFamily("node_cost_", node_bill=True)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def anchored_window(query: TrendQuery) -> Window:
    start = bucket_start(query.start, query.granularity)
    end = bucket_start(query.end, query.granularity)
    if end < query.end:
        end = next_bucket(end, query.granularity)
    return Window(start, end)


async def bucket_costs(
    conn: Conn,
    query: TrendQuery,
    window: Window,
    scope_filter: sql.Composable,
    params: dict[str, object],
    family: RollupFamily = DETAILED,
) -> dict[datetime, int]:
    """Cost per bucket in micro-units, summed as integers in the database."""
    statement = sql.SQL(
        "SELECT bucket, {cost}::bigint FROM {table}"
        " WHERE {scope} AND {rows} AND bucket >= %(start)s AND bucket < %(end)s"
        " GROUP BY bucket"
    ).format(
        cost=family.amount(query.cost_mode),
        table=sql.Identifier(family.table(query.granularity)),
        scope=scope_filter,
        rows=family.rows(),
    )
    cursor = await conn.execute(statement, {**params, "start": window.start, "end": window.end})
    return {row[0]: int(row[1]) for row in await cursor.fetchall()}


def series(
    query: TrendQuery, window: Window, costs: dict[datetime, int], now: datetime | None = None
) -> list[tuple[datetime, Decimal]]:
    """(bucket, amount) for every bucket that has begun, as breakdown or run rate."""
    current_hour = floor_hour(now or datetime.now(UTC))
    points: list[tuple[datetime, Decimal]] = []
    for anchor in buckets(window.start, window.end, query.granularity):
        if anchor > current_hour:
            break
        micros = costs.get(anchor, 0)
        amount = Decimal(micros) / MICROS_PER_UNIT
        if query.type is TrendType.RUN_RATE:
            bucket_end = min(next_bucket(anchor, query.granularity), max(current_hour, anchor))
            hours = Decimal(int((bucket_end - anchor).total_seconds()) // 3600)
            amount = amount * HOURS_PER_MONTH / hours if hours > 0 else Decimal(0)
        points.append((anchor, amount))
    return points
