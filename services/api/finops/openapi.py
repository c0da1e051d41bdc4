"""What the FinOps controllers share in their OpenAPI description: parameters and errors."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Parameter
from litestar.plugins import OpenAPISchemaPlugin

from services.api.errors import ErrorEnvelope

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


class DecimalAsNumber(OpenAPISchemaPlugin):
    """Documents every `Decimal` as a JSON number, as `NumberResponse` writes it.

    Litestar documents `Decimal` as a string; a per-field override cannot reach a `Decimal`
    inside `dict[str, ...]` and contradicts `None` in an optional one, so the whole type is
    described here once.
    """

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is Decimal

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        return Schema(type=OpenAPIType.NUMBER)


ERRORS = {
    status: ResponseSpec(data_container=ErrorEnvelope, description=text)
    for status, text in (
        (400, "Malformed parameter (BAD_REQUEST): not an integer, not an ISO 8601 date"),
        (401, "Missing or invalid X-API-Key (UNAUTHORIZED)"),
        (403, "The key lacks the finops:read scope (FORBIDDEN)"),
        (
            422,
            "Unknown or out-of-range parameter value (VALIDATION_ERROR); details list the allowed values",
        ),
        (429, "Per-key quota exceeded (RATE_LIMITED); honor Retry-After"),
        (503, "The cost database is unavailable (SERVICE_UNAVAILABLE)"),
    )
}

WINDOW_HELP = (
    "N followed by h (hours), d (days), w (ISO weeks) or m (calendar months), counting back "
    "from and including the current one; or daily, weekly, monthly (= 1d, 1w, 1m)."
)


def query(name: str, description: str) -> Any:
    return Parameter(query=name, required=False, description=description)


def window(default: str, name: str = "window") -> Any:
    return query(name, f"{WINDOW_HELP} Default {default}.")


def start_date() -> Any:
    return query("startDate", "ISO 8601 date or date-time (naive = UTC); floored to its UTC day.")


def end_date() -> Any:
    return query(
        "endDate",
        "ISO 8601 date (that day included) or date-time (rounded up to midnight UTC). "
        "Default: today, included.",
    )


def resource_type() -> Any:
    return query(
        "resourceType",
        "cpu, ram, gpu, storage, network, load_balancer, shared, external or idle.",
    )


def group_by(default: str | None) -> Any:
    suffix = f" Default {default}." if default else " Default: no grouping."
    return query(
        "groupBy",
        "cluster, namespace, workload, node_group, service, team (or org), owner (or user), "
        "resource_type." + suffix,
    )


def org_id() -> Any:
    return query("orgId", "Only costs whose `team` label equals this value.")


def user_id() -> Any:
    return query("userId", "Only costs whose `owner` label equals this value.")


def limit() -> Any:
    return query("limit", "1 to 100, default 10.")
