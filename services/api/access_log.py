"""One log line per request, with its request id, status and duration, and the id on every
response as `X-Request-ID`.

A middleware rather than a handler hook so that it also sees requests that end in an error
handler or the rate limiter: the line an SRE searches for when a client quotes the id of a failed
call. A caller's own `X-Request-ID` (short, plain characters) is kept, so ids can follow a call
through a gateway.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("costpipe.api.access")

_CALLER_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HEADER = b"x-request-id"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            text = value.decode("latin-1")
            if _CALLER_ID.fullmatch(text):
                return text
    return "req_" + uuid.uuid4().hex


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        status = 500
        state: dict[str, Any] = scope.setdefault("state", {})
        request_id = state.setdefault("request_id", _request_id(scope))

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if all(name.lower() != _HEADER for name, _ in headers):
                    headers.append((_HEADER, request_id.encode("latin-1")))
                    message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_status)
        finally:
            log.info(
                "%s %s %d",
                method,
                scope["path"],
                status,
                extra={
                    "request_id": request_id,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    return middleware
