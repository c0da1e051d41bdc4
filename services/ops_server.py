"""The operations endpoints of the collector and the aggregator: `/metrics`, `/healthz`,
`/readyz` on COSTPIPE_METRICS_PORT (the API serves the same paths on its own port).

Readiness means the process can do its work now: the database answers, a Kafka broker accepts
connections, and the service has no reason of its own (an aggregator owning no partition past its
grace period, a collector whose sends the broker refuses). Liveness only means the process serves requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import uvicorn
from litestar import Litestar, Request, Response, get
from litestar.plugins.prometheus import PrometheusController
from psycopg_pool import PoolTimeout

from shared.db.pool import Pool


class EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves signals to us: one stop event stops every service in the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve_until(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set (or the server ends by itself), then shut down cleanly."""
        serving = asyncio.create_task(self.serve())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        self.should_exit = True
        await serving
        stopping.cancel()


class Readiness:
    """Reasons a service cannot do its work now, beyond its dependencies being down; /readyz
    answers 503 with them."""

    def __init__(self) -> None:
        self._reasons: dict[str, str] = {}

    def set(self, what: str, reason: str | None) -> None:
        if reason is None:
            self._reasons.pop(what, None)
        else:
            self._reasons[what] = reason

    def reasons(self) -> list[str]:
        return list(self._reasons.values())


_PROBE_SECONDS = 2.0


async def database_problem(pool: Pool) -> str | None:
    try:
        async with asyncio.timeout(_PROBE_SECONDS), pool.connection() as conn:
            await conn.execute("SELECT 1")
    except (psycopg.Error, PoolTimeout, TimeoutError) as exc:
        return f"database: {type(exc).__name__}"
    return None


async def broker_problem(bootstrap: str) -> str | None:
    """None when any bootstrap server accepts a TCP connection."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            async with asyncio.timeout(_PROBE_SECONDS / 2):
                _, writer = await asyncio.open_connection(host, int(port))
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return None
    return "broker: no bootstrap server answers"


def build_ops_app(pool: Pool, bootstrap: str, readiness: Readiness | None = None) -> Litestar:
    @get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", include_in_schema=False)
    async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        problems = [p for p in (await database_problem(pool), await broker_problem(bootstrap)) if p]
        problems += readiness.reasons() if readiness is not None else []
        if problems:
            return Response({"status": "unavailable", "problems": problems}, status_code=503)
        return Response({"status": "ready"}, status_code=200)

    return Litestar(
        route_handlers=[healthz, readyz, PrometheusController],
        openapi_config=None,
        logging_config=None,
    )


async def serve_ops(
    port: int,
    host: str,
    pool: Pool,
    bootstrap: str,
    stop: asyncio.Event,
    readiness: Readiness | None = None,
) -> None:
    server = EmbeddedServer(
        uvicorn.Config(
            build_ops_app(pool, bootstrap, readiness),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
    )
    await server.serve_until(stop)
