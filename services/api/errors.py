"""One exception type for every documented error, and the single place that renders them.

Every failure leaves the API in the envelope `{"error": {code, message, details}, "meta":
{request_id}}`; anything unexpected becomes 500 INTERNAL_ERROR (logged), a database outage 503.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from psycopg_pool import PoolTimeout

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def bad_request(message: str, **details: Any) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message, details)


def validation_error(message: str, **details: Any) -> ApiError:
    return ApiError(422, "VALIDATION_ERROR", message, details)


class ErrorBody(msgspec.Struct):
    code: str
    message: str
    details: dict[str, Any]


class ErrorMeta(msgspec.Struct):
    request_id: str


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody
    meta: ErrorMeta


def request_id_of(request: Request[Any, Any, Any]) -> str:
    existing = request.scope.get("state", {}).get("request_id")
    if isinstance(existing, str):
        return existing
    new_id = "req_" + uuid.uuid4().hex
    request.scope.setdefault("state", {})["request_id"] = new_id
    return new_id


def _render(request: Request[Any, Any, Any], error: ApiError) -> Response[ErrorEnvelope]:
    request_id = request_id_of(request)
    return Response(
        ErrorEnvelope(ErrorBody(error.code, error.message, error.details), ErrorMeta(request_id)),
        status_code=error.status,
        headers={"X-Request-ID": request_id, **error.headers},
    )


def handle_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[ErrorEnvelope]:
    return _render(request, exc)


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


def handle_http_exception(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[ErrorEnvelope]:
    """Litestar's own errors (unknown route, bad method, its validation) in our envelope."""
    status = exc.status_code
    if isinstance(exc, NotFoundException):
        return _render(request, ApiError(404, "NOT_FOUND", "no such endpoint"))
    if status >= 500:
        log.error("server error: %s", exc.detail)
        return _render(request, ApiError(500, "INTERNAL_ERROR", "internal error"))
    code = _HTTP_CODES.get(status, "BAD_REQUEST")
    return _render(request, ApiError(status, code, str(exc.detail)))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorEnvelope]:
    request_id = request_id_of(request)
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        log.warning("database unavailable: %s", exc, extra={"request_id": request_id})
        return _render(
            request,
            ApiError(
                503,
                "SERVICE_UNAVAILABLE",
                "the cost database is unavailable; retry later",
                headers={"Retry-After": "5"},
            ),
        )
    log.exception("unhandled error on %s", request.url.path, extra={"request_id": request_id})
    return _render(
        request, ApiError(HTTP_500_INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error")
    )
