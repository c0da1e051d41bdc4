"""The FOCUS export: allocated Kubernetes cost as FinOps Open Cost and Usage Specification rows.

FinOps teams join every provider's bill in FOCUS; a FOCUS file of costpipe's rollups puts the
allocated in-cluster cost beside them. One module serves `costpipe export focus` and
`GET /api/v1/finops/export/focus`, so both write the same rows: one per charge period (a UTC day
or hour) x cluster x namespace x workload, plus the rows of cost no workload owns (the idle
pool, unallocated and unmounted cost), which carry their own kind.

Amounts are the rollups' integer micro-units rendered as decimals with six places: nothing is
rounded, so the rows of a month add up to the month's total exactly. Rows are read through a
server-side cursor and written as they come (CSV lines, Parquet row groups of ROW_GROUP rows), so
a year of hourly rows streams in constant memory. Which FOCUS 1.2 columns are filled, and why the
others are empty, is in docs/focus.md.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from shared.db.pool import Conn
from shared.money import MICROS_PER_UNIT
from shared.progress import Progress
from shared.timewindows import Resolution, isoformat_z

ROW_GROUP = 10_000
FETCH_ROWS = 5_000
MAX_DAYS = 3_660  # ten years of days: a range beyond that is a typo, not a request
SPEC_VERSION = "1.2"
PRIVATE_TAG_PREFIX = "costpipe/"
_PLACES = Decimal("0.000001")


class CostMode(StrEnum):
    FULLY_LOADED = "fully_loaded"
    WORKLOAD_ONLY = "workload_only"


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


GRANULARITIES = {"daily": Resolution.DAILY, "hourly": Resolution.HOURLY}
_TABLES = {Resolution.DAILY: "cost_daily", Resolution.HOURLY: "cost_hourly"}
_STEP = {Resolution.DAILY: timedelta(days=1), Resolution.HOURLY: timedelta(hours=1)}

MEDIA_TYPES = {
    FileFormat.CSV: "text/csv; charset=utf-8",
    FileFormat.PARQUET: "application/vnd.apache.parquet",
}


class ExportError(ValueError):
    """A request the export cannot answer; the message says what to change."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class ExportRequest:
    start: datetime  # inclusive, midnight UTC
    end: datetime  # exclusive, midnight UTC
    granularity: Resolution
    cost_mode: CostMode
    clusters: tuple[uuid.UUID, ...]  # the clusters exported: never empty
    currency: str


def parse_day(parameter: str, text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ExportError(
            parameter, f"'{parameter}' must be a date (YYYY-MM-DD), not {text!r}"
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_range(start_text: str, end_text: str) -> tuple[datetime, datetime]:
    start, end = parse_day("from", start_text), parse_day("to", end_text)
    if end <= start:
        raise ExportError("to", "'to' must be after 'from' (the range is [from, to), whole days)")
    if end - start > timedelta(days=MAX_DAYS):
        raise ExportError("to", f"a range covers at most {MAX_DAYS} days")
    return start, end


def parse_choice(parameter: str, text: str, choices: Sequence[str]) -> str:
    if text not in choices:
        raise ExportError(
            parameter, f"'{parameter}' must be one of {', '.join(choices)}, not {text!r}"
        )
    return text


async def export_clusters(
    conn: Conn, wanted: Sequence[uuid.UUID] | None, organization: uuid.UUID | None
) -> tuple[uuid.UUID, ...]:
    """The clusters to export: those named (each must exist, in `organization` if given), or
    every cluster (of `organization`)."""
    cursor = await conn.execute(
        "SELECT id FROM cluster WHERE %(organization)s::uuid IS NULL"
        " OR organization_id = %(organization)s ORDER BY id",
        {"organization": organization},
    )
    known = [row[0] for row in await cursor.fetchall()]
    if not wanted:
        if not known:
            raise ExportError("cluster", "there is no cluster to export (no data collected yet)")
        return tuple(known)
    unknown = sorted({str(c) for c in wanted} - {str(c) for c in known})
    if unknown:
        where = f" in organization {organization}" if organization else ""
        raise ExportError("cluster", f"no such cluster{where}: {', '.join(unknown)}")
    return tuple(sorted(set(wanted)))


# --- the columns -------------------------------------------------------------------------------
# (name, Arrow type). FOCUS Decimal -> decimal128(38, 6) (micro-units, exact); Date/Time -> UTC
# timestamps; String and JSON -> strings (JSON as its text, as FOCUS's KeyValueFormat says).
_MONEY = pa.decimal128(38, 6)
_TIME = pa.timestamp("s", tz="UTC")
COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("BilledCost", _MONEY),
    ("BillingAccountId", pa.string()),
    ("BillingAccountName", pa.string()),
    ("BillingCurrency", pa.string()),
    ("BillingPeriodEnd", _TIME),
    ("BillingPeriodStart", _TIME),
    ("ChargeCategory", pa.string()),
    ("ChargeClass", pa.string()),
    ("ChargeDescription", pa.string()),
    ("ChargeFrequency", pa.string()),
    ("ChargePeriodEnd", _TIME),
    ("ChargePeriodStart", _TIME),
    ("ContractedCost", _MONEY),
    ("EffectiveCost", _MONEY),
    ("InvoiceIssuer", pa.string()),
    ("ListCost", _MONEY),
    ("PricingQuantity", _MONEY),
    ("PricingUnit", pa.string()),
    ("Provider", pa.string()),
    ("Publisher", pa.string()),
    ("ResourceId", pa.string()),
    ("ResourceName", pa.string()),
    ("ResourceType", pa.string()),
    ("ServiceCategory", pa.string()),
    ("ServiceName", pa.string()),
    ("ServiceSubcategory", pa.string()),
    ("SubAccountId", pa.string()),
    ("SubAccountName", pa.string()),
    ("SubAccountType", pa.string()),
    ("Tags", pa.string()),
    ("x_ClusterId", pa.string()),
    ("x_ClusterName", pa.string()),
    ("x_Namespace", pa.string()),
    ("x_ControllerKind", pa.string()),
    ("x_Controller", pa.string()),
    ("x_AllocationKind", pa.string()),
    ("x_CostMode", pa.string()),
    ("x_WorkloadCost", _MONEY),
    ("x_IdleShare", _MONEY),
    ("x_CpuCost", _MONEY),
    ("x_RamCost", _MONEY),
    ("x_GpuCost", _MONEY),
    ("x_StorageCost", _MONEY),
    ("x_NetworkCost", _MONEY),
    ("x_LoadBalancerCost", _MONEY),
    ("x_SharedCost", _MONEY),
    ("x_ExternalCost", _MONEY),
    ("x_FocusVersion", pa.string()),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
SCHEMA = pa.schema([pa.field(name, kind) for name, kind in COLUMNS])
# FOCUS 1.2 Mandatory columns that allow no null: a row without them is not FOCUS.
NOT_NULL = frozenset(
    {
        "BilledCost",
        "BillingAccountId",
        "BillingCurrency",
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "ChargeCategory",
        "ChargePeriodEnd",
        "ChargePeriodStart",
        "ContractedCost",
        "EffectiveCost",
        "InvoiceIssuer",
        "ListCost",
        "Provider",
        "Publisher",
        "ServiceCategory",
        "ServiceName",
    }
)

_SELECT = """
SELECT c.bucket, c.cluster_id, cl.name, cl.organization_id, o.name, c.namespace, c.workload_uid,
       c.kind, w.kind, w.name, c.team, c.owner, c.service, c.cost, c.idle_share, c.cpu_cost,
       c.ram_cost, c.gpu_cost, c.pv_cost, c.network_cost, c.load_balancer_cost, c.shared_cost,
       c.external_cost
FROM (
    SELECT bucket, cluster_id, namespace, workload_uid, kind,
           max(team) AS team, max(owner) AS owner, max(service) AS service,
           sum(cost)::bigint AS cost, sum(idle_share)::bigint AS idle_share,
           sum(cpu_cost)::bigint AS cpu_cost, sum(ram_cost)::bigint AS ram_cost,
           sum(gpu_cost)::bigint AS gpu_cost, sum(pv_cost)::bigint AS pv_cost,
           sum(network_cost)::bigint AS network_cost,
           sum(load_balancer_cost)::bigint AS load_balancer_cost,
           sum(shared_cost)::bigint AS shared_cost, sum(external_cost)::bigint AS external_cost
    FROM {table}
    WHERE cluster_id = ANY(%(clusters)s) AND bucket >= %(start)s AND bucket < %(end)s
    GROUP BY cluster_id, bucket, namespace, workload_uid, kind
) c
JOIN cluster cl ON cl.id = c.cluster_id
JOIN organization o ON o.id = cl.organization_id
LEFT JOIN workload w ON w.uid = c.workload_uid
WHERE {amount} <> 0
ORDER BY c.cluster_id, c.bucket, c.namespace, c.workload_uid, c.kind
"""


def _amount_sql(mode: CostMode) -> sql.Composable:
    return sql.SQL("c.cost" if mode is CostMode.WORKLOAD_ONLY else "(c.cost + c.idle_share)")


def _decimal(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS_PER_UNIT).quantize(_PLACES)


def _month(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


_NIL = uuid.UUID(int=0)
_KIND_NAMES = {
    "idle": "idle capacity (cost of the cluster's resources no workload requested)",
    "unallocated": "unallocated cost (no namespace or workload reported)",
    "unmounted": "unmounted storage (volumes no pod mounted)",
}


def _row(record: Sequence[Any], request: ExportRequest) -> dict[str, object]:
    (bucket, cluster_id, cluster_name, organization_id, organization_name, namespace, uid,
     kind, controller_kind, controller, team, owner, service, *money) = record  # fmt: skip
    cost, idle_share, cpu, ram, gpu, pv, network, load_balancer, shared, external = (
        int(v) for v in money
    )
    effective = cost if request.cost_mode is CostMode.WORKLOAD_ONLY else cost + idle_share
    amount = _decimal(effective)
    bucket = bucket.astimezone(UTC)
    billing_start, billing_end = _month(bucket)
    is_workload = kind == "workload" and uid != _NIL
    if is_workload:
        resource_id = f"k8s://{cluster_id}/{namespace}/{controller_kind or 'pod'}/{controller}"
        resource_name = f"{namespace}/{controller or uid}"
        resource_type = f"Kubernetes {(controller_kind or 'pod').capitalize()}"
        described = f"workload {namespace}/{controller_kind or 'pod'}/{controller or uid}"
    else:
        place = f"/{namespace}" if namespace else ""
        resource_id = f"k8s://{cluster_id}{place}/__{kind}__"
        resource_name = f"{namespace + '/' if namespace else ''}__{kind}__"
        resource_type = f"Kubernetes {kind} cost"
        described = _KIND_NAMES.get(kind, f"{kind} cost")
    mode_text = (
        "own cost" if request.cost_mode is CostMode.WORKLOAD_ONLY else "own cost + idle share"
    )
    tags = {
        f"{PRIVATE_TAG_PREFIX}{key}": value
        for key, value in (("team", team), ("owner", owner), ("service", service))
        if value
    }
    return {
        "BilledCost": amount,
        "BillingAccountId": str(organization_id),
        "BillingAccountName": organization_name,
        "BillingCurrency": request.currency,
        "BillingPeriodEnd": billing_end,
        "BillingPeriodStart": billing_start,
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"Kubernetes {described} in cluster {cluster_name}, {mode_text}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": bucket + _STEP[request.granularity],
        "ChargePeriodStart": bucket,
        "ContractedCost": amount,
        "EffectiveCost": amount,
        "InvoiceIssuer": organization_name,
        "ListCost": amount,
        "PricingQuantity": None,
        "PricingUnit": None,
        "Provider": "Kubernetes",
        "Publisher": "Kubernetes",
        "ResourceId": resource_id,
        "ResourceName": resource_name,
        "ResourceType": resource_type,
        "ServiceCategory": "Compute",
        "ServiceName": "Kubernetes",
        "ServiceSubcategory": "Containers",
        "SubAccountId": str(cluster_id),
        "SubAccountName": cluster_name,
        "SubAccountType": "Kubernetes Cluster",
        "Tags": json.dumps(tags, sort_keys=True, separators=(",", ":")),
        "x_ClusterId": str(cluster_id),
        "x_ClusterName": cluster_name,
        "x_Namespace": namespace or None,
        "x_ControllerKind": controller_kind if is_workload else None,
        "x_Controller": controller if is_workload else None,
        "x_AllocationKind": kind,
        "x_CostMode": request.cost_mode.value,
        "x_WorkloadCost": _decimal(cost),
        "x_IdleShare": _decimal(idle_share),
        "x_CpuCost": _decimal(cpu),
        "x_RamCost": _decimal(ram),
        "x_GpuCost": _decimal(gpu),
        "x_StorageCost": _decimal(pv),
        "x_NetworkCost": _decimal(network),
        "x_LoadBalancerCost": _decimal(load_balancer),
        "x_SharedCost": _decimal(shared),
        "x_ExternalCost": _decimal(external),
        "x_FocusVersion": SPEC_VERSION,
    }


async def focus_rows(conn: Conn, request: ExportRequest) -> AsyncIterator[dict[str, object]]:
    """The export's rows, in (cluster, charge period, namespace, workload) order, streamed from a
    server-side cursor: the connection must not be in autocommit-free use by anyone else."""
    statement = sql.SQL(_SELECT).format(
        table=sql.Identifier(_TABLES[request.granularity]),
        amount=_amount_sql(request.cost_mode),
    )
    params = {"clusters": list(request.clusters), "start": request.start, "end": request.end}
    async with conn.transaction(), conn.cursor(name="focus_export") as cursor:
        cursor.itersize = FETCH_ROWS
        await cursor.execute(statement, params)
        async for record in cursor:
            yield _row(record, request)


# --- writers -------------------------------------------------------------------------------------


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    return value


class CsvChunks:
    """CSV text in chunks: the header first, then the rows given to `rows`."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()

    def header(self) -> bytes:
        self._writer.writerow(COLUMN_NAMES)
        return self._take()

    def rows(self, rows: Sequence[dict[str, object]]) -> bytes:
        self._writer.writerows([_csv_cell(row[name]) for name in COLUMN_NAMES] for row in rows)
        return self._take()


class _Sink(io.RawIOBase):
    """A write-only file for ParquetWriter whose bytes are taken after each row group."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class ParquetChunks:
    """Parquet bytes in chunks: one row group per `rows` call, the footer from `close`."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._writer = pq.ParquetWriter(
            pa.PythonFile(self._sink, mode="w"), SCHEMA, compression="zstd"
        )

    def header(self) -> bytes:
        return self._sink.take()

    def rows(self, rows: Sequence[dict[str, object]]) -> bytes:
        columns = {name: [row[name] for row in rows] for name in COLUMN_NAMES}
        self._writer.write_table(pa.table(columns, schema=SCHEMA))
        return self._sink.take()

    def close(self) -> bytes:
        self._writer.close()
        return self._sink.take()


class _Tracker:
    """Feeds a progress display from the rows as they pass: per cluster, periods done of all."""

    def __init__(self, progress: Progress, request: ExportRequest) -> None:
        self.progress = progress
        self.request = request
        self.total = int((request.end - request.start) / _STEP[request.granularity])
        self.cluster: str | None = None
        self.done = 0

    def saw(self, row: dict[str, object]) -> None:
        cluster = str(row["x_ClusterName"])
        period = row["ChargePeriodStart"]
        assert isinstance(period, datetime)
        if cluster != self.cluster:
            if self.cluster is not None:
                self.progress.end(self.cluster)
            self.cluster, self.done = cluster, 0
            self.progress.begin(cluster, self.total)
        reached = int((period - self.request.start) / _STEP[self.request.granularity])
        if reached > self.done:
            self.progress.advance(cluster, reached - self.done)
            self.done = reached

    def finish(self) -> None:
        if self.cluster is not None:
            self.progress.advance(self.cluster, self.total - self.done)
            self.progress.end(self.cluster)
        self.progress.close()


async def export_chunks(
    conn: Conn,
    request: ExportRequest,
    file_format: FileFormat,
    progress: Progress | None = None,
) -> AsyncIterator[bytes]:
    """The whole file as a stream of byte chunks, a row group (or CSV block) at a time."""
    writer: CsvChunks | ParquetChunks = (
        CsvChunks() if file_format is FileFormat.CSV else ParquetChunks()
    )
    tracker = None if progress is None else _Tracker(progress, request)
    yield writer.header()
    batch: list[dict[str, object]] = []
    async for row in focus_rows(conn, request):
        batch.append(row)
        if tracker is not None:
            tracker.saw(row)
        if len(batch) >= ROW_GROUP:
            yield writer.rows(batch)
            batch = []
    if batch:
        yield writer.rows(batch)
    if isinstance(writer, ParquetChunks):
        yield writer.close()
    if tracker is not None:
        tracker.finish()
