"""GET /api/v1/finops/export/focus: the FOCUS export over HTTP, streamed.

Every parameter is checked, and the key's clusters resolved, before the first byte is sent: a
bad request gets the documented error envelope, not a truncated file. The rows are then read
from a server-side cursor on a connection held for the length of the download and sent as they
are written, so a year of hourly rows costs the API no more memory than a day's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Stream

from services.api.errors import ApiError, ErrorEnvelope, validation_error
from services.api.finops import focus
from services.api.finops import openapi as doc
from services.api.finops.scope import finops_principal, load_scope
from shared.db.pool import Pool


def _required(name: str, raw: str | None) -> str:
    if raw is None or not raw.strip():
        raise validation_error(f"'{name}' is required (YYYY-MM-DD)", parameter=name)
    return raw.strip()


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except focus.ExportError as exc:
        raise validation_error(str(exc), parameter=exc.parameter) from None


def _cost_mode(raw: str | None) -> focus.CostMode:
    """As the cost-trend API answers an unknown cost mode: 422 INVALID_COST_MODE."""
    try:
        return focus.CostMode(raw or focus.CostMode.FULLY_LOADED.value)
    except ValueError:
        allowed = [m.value for m in focus.CostMode]
        raise ApiError(
            422,
            "INVALID_COST_MODE",
            f"'cost_mode' must be one of {', '.join(allowed)}, not {raw!r}",
            {"parameter": "cost_mode", "allowed": allowed},
        ) from None


def _clusters(raw: str | None, reachable: list[uuid.UUID]) -> tuple[uuid.UUID, ...]:
    """The clusters asked for (comma-separated), each one the key reaches; default all of them."""
    if raw is None:
        if not reachable:
            raise validation_error("this key reaches no cluster with data", parameter="cluster")
        return tuple(reachable)
    wanted: list[uuid.UUID] = []
    for part in raw.split(","):
        try:
            wanted.append(uuid.UUID(part.strip()))
        except ValueError:
            raise validation_error(
                f"'cluster' must be cluster UUIDs, comma-separated; {part.strip()!r} is not one",
                parameter="cluster",
            ) from None
    outside = sorted(str(c) for c in set(wanted) - set(reachable))
    if outside:
        raise ApiError(
            404,
            "CLUSTER_NOT_FOUND",
            f"no cluster this key can reach: {', '.join(outside)}",
            {"parameter": "cluster", "clusters": outside},
        )
    return tuple(sorted(set(wanted)))


class FinOpsExportController(Controller):
    path = "/api/v1/finops/export"
    tags = ["finops"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get(
        "/focus",
        operation_id="getFinopsFocusExport",
        summary="Allocated cost as FinOps FOCUS 1.2 rows, streamed as CSV or Parquet",
        description="One row per charge period x cluster x namespace x workload (and the idle, "
        "unallocated and unmounted rows) of the key's clusters, for [from, to) in whole UTC "
        "days. Money has six decimals, the stored micro-units, never rounded. Columns: "
        "docs/focus.md.",
        responses={
            200: ResponseSpec(
                data_container=bytes,
                media_type="text/csv",
                description="CSV (format=csv) or Parquet (format=parquet) bytes",
            ),
            **doc.ERRORS,
            422: ResponseSpec(
                data_container=ErrorEnvelope,
                description="A missing or invalid parameter (VALIDATION_ERROR), an unknown "
                "cost_mode (INVALID_COST_MODE)",
            ),
            404: ResponseSpec(
                data_container=ErrorEnvelope,
                description="A cluster the key does not reach (CLUSTER_NOT_FOUND)",
            ),
        },
    )
    async def focus_export(
        self,
        request: Request[Any, Any, Any],
        start: str | None = doc.query("from", "First UTC day, inclusive (YYYY-MM-DD). Required."),
        end: str | None = doc.query("to", "Last UTC day, exclusive (YYYY-MM-DD). Required."),
        granularity: str | None = doc.query(
            "granularity", "Charge period: daily (default) or hourly."
        ),
        cost_mode: str | None = doc.query(
            "cost_mode",
            "fully_loaded (default: own cost + idle share) or workload_only (own cost; the "
            "idle pool is its own rows).",
        ),
        file_format: str | None = doc.query("format", "csv (default) or parquet."),
        cluster: str | None = doc.query(
            "cluster", "Cluster UUIDs, comma-separated (default: every cluster the key reaches)."
        ),
    ) -> Stream:
        principal = await finops_principal(request)
        first, last = _checked(focus.parse_range, _required("from", start), _required("to", end))
        level = _checked(
            focus.parse_choice, "granularity", granularity or "daily", ("daily", "hourly")
        )
        mode = _cost_mode(cost_mode)
        kind = focus.FileFormat(
            _checked(
                focus.parse_choice,
                "format",
                file_format or "csv",
                tuple(f.value for f in focus.FileFormat),
            )
        )
        pool: Pool = request.app.state.pool
        async with pool.connection() as conn:
            scope = await load_scope(conn, principal)
        export = focus.ExportRequest(
            start=first,
            end=last,
            granularity=focus.GRANULARITIES[level],
            cost_mode=mode,
            clusters=_clusters(cluster, scope.clusters),
            currency=request.app.state.currency,
        )

        async def body() -> AsyncIterator[bytes]:
            async with pool.connection() as conn:
                async for chunk in focus.export_chunks(conn, export, kind):
                    yield chunk

        name = f"focus-{first:%Y-%m-%d}-{last:%Y-%m-%d}.{kind.value}"
        return Stream(
            body(),
            media_type=focus.MEDIA_TYPES[kind],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
