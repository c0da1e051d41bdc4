"""Resource requests, usage and their costs per group, and Kubecost's efficiency ratios over them.

The rollups carry each quantity as an integer (micro core-hours, KiB-hours, micro GPU-hours), so
sums over any span are exact; ratios are taken once, as `Decimal`, from those sums. That is also
how Kubecost defines an aggregate's efficiency: usage over request of the summed core-hours, not
an average of per-row ratios, so a large workload weighs more than a small one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_EVEN, Decimal

from psycopg import sql

from services.api.finops.queries import TABLES
from services.api.finops.scope import Scope
from services.api.finops.windows import Span, source_resolution
from shared.db.pool import Conn

MICRO = Decimal(1_000_000)
KIB_PER_GIB = Decimal(1024 * 1024)
RATE = Decimal("0.0001")
QUANTITY = Decimal("0.0001")
ONE = Decimal(1)
# The idle pool has cost but no requests or usage of its own; it is nobody's efficiency.
NOT_IDLE_POOL = sql.SQL("kind NOT IN ('idle', 'unmounted')")


@dataclass(frozen=True)
class Usage:
    """Sums over a group; quantities in the rollups' integer units, money in micro-units."""

    cpu_request: int = 0  # micro core-hours
    cpu_usage: int = 0
    ram_request: int = 0  # KiB-hours
    ram_usage: int = 0
    gpu_request: int = 0  # micro GPU-hours
    gpu_usage: int = 0
    cpu_cost: int = 0
    ram_cost: int = 0
    gpu_cost: int = 0
    cost: int = 0  # the workload's own cost
    loaded: int = 0  # cost + idle share

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)))

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(Usage))

    @property
    def cpu_efficiency(self) -> Decimal | None:
        return ratio(self.cpu_usage, self.cpu_request)

    @property
    def ram_efficiency(self) -> Decimal | None:
        return ratio(self.ram_usage, self.ram_request)

    @property
    def gpu_efficiency(self) -> Decimal | None:
        return ratio(self.gpu_usage, self.gpu_request)

    @property
    def total_efficiency(self) -> Decimal | None:
        """Kubecost's totalEfficiency: CPU and RAM efficiency weighted by their costs.

        A resource with neither request nor usage weighs in at 0, as in Kubecost; with no CPU
        or RAM cost to weigh by there is no total.
        """
        weight = self.cpu_cost + self.ram_cost
        if weight <= 0:
            return None
        cpu = self.cpu_efficiency or Decimal(0)
        ram = self.ram_efficiency or Decimal(0)
        return (cpu * self.cpu_cost + ram * self.ram_cost) / weight


_COLUMNS = (
    "cpu_request_micro_core_hours",
    "cpu_usage_micro_core_hours",
    "ram_request_kib_hours",
    "ram_usage_kib_hours",
    "gpu_request_micro_hours",
    "gpu_usage_micro_hours",
    "cpu_cost",
    "ram_cost",
    "gpu_cost",
    "cost",
)
_SUMS = sql.SQL(", ").join(
    [sql.SQL("sum({})").format(sql.Identifier(c)) for c in _COLUMNS]
    + [sql.SQL("sum(cost + idle_share)")]
)


def ratio(usage: int, request: int) -> Decimal | None:
    """Usage over request; 1 when something was used without a request, None when neither."""
    if request > 0:
        return Decimal(usage) / Decimal(request)
    return ONE if usage > 0 else None


def rate(value: Decimal | None) -> Decimal | None:
    """A ratio as the API writes it: 4 decimals, half-even."""
    return None if value is None else value.quantize(RATE, rounding=ROUND_HALF_EVEN)


def quantity(value: Decimal) -> Decimal:
    return value.quantize(QUANTITY, rounding=ROUND_HALF_EVEN)


def core_hours(micros: int) -> Decimal:
    """Micro core-hours (or micro GPU-hours) as hours, 4 decimals."""
    return quantity(Decimal(micros) / MICRO)


def gib_hours(kib_hours: int) -> Decimal:
    return quantity(Decimal(kib_hours) / KIB_PER_GIB)


@dataclass(frozen=True)
class UsageRow:
    key: tuple[object, ...]
    usage: Usage


async def usage_by(
    conn: Conn,
    scope: Scope,
    span: Span,
    dimensions: Sequence[str],
    condition: tuple[sql.Composable, dict[str, object]],
) -> list[UsageRow]:
    """The summed quantities and costs per group of `dimensions`, within the scope's reach.

    `condition` narrows the rows (the idle pool out, a namespace, workloads only).
    """
    reach, params = scope.reach()
    keys = sql.SQL("").join(sql.SQL("{}, ").format(sql.Identifier(d)) for d in dimensions)
    statement = sql.SQL(
        "SELECT {keys}{sums} FROM {table} WHERE {reach} AND {condition}"
        " AND bucket >= %(start)s AND bucket < %(end)s"
    ).format(
        keys=keys,
        sums=_SUMS,
        table=sql.Identifier(TABLES[source_resolution(span)]),
        reach=reach,
        condition=condition[0],
    )
    if dimensions:
        positions = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(dimensions)))
        statement += sql.SQL(" GROUP BY {}").format(positions)
    cursor = await conn.execute(
        statement, {**params, **condition[1], "start": span.start, "end": span.end}
    )
    width = len(dimensions)
    return [
        UsageRow(
            tuple(row[:width]),
            Usage(*(0 if v is None else int(v) for v in row[width:])),
        )
        for row in await cursor.fetchall()
    ]
