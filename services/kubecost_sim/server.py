"""HTTP face of the simulator: Kubecost's and OpenCost's URL shapes over `model`.

One process serves every synthetic cluster so a demo needs one port: cluster 0 answers at the
root (what a collector configured with a single Kubecost URL expects) and cluster i under
`/clusters/{i}`. Parameters are parsed by hand rather than by Litestar's validation so that a
bad request gets Kubecost's error envelope, not a framework one. Step-wise responses are
streamed one step at a time, so a year of hourly pod allocations never sits in memory.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any

import anyio.to_thread
import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get
from litestar.response import Stream

from services.kubecost_sim import model, params
from services.kubecost_sim.cache import StepCache
from services.kubecost_sim.model import SimConfig

__all__ = ["ALLOCATION_PATHS", "ASSET_PATHS", "build_app", "run", "serve_in_thread"]

ALLOCATION_PATHS = ("/model/allocation", "/allocation", "/allocation/compute")
ASSET_PATHS = ("/model/assets", "/assets")
_CLUSTER_PREFIX = "/clusters/{cluster:int}"
_JSON = "application/json"
_encoder = msgspec.json.Encoder()


def _paths(base: tuple[str, ...]) -> list[str]:
    return [*base, *(_CLUSTER_PREFIX + p for p in base)]


def _error(status: int, message: str) -> Response[bytes]:
    body = _encoder.encode({"code": status, "status": "error", "message": message})
    return Response(content=body, status_code=status, media_type=_JSON)


def _ok(data: Any) -> Response[bytes]:
    body = _encoder.encode({"code": 200, "status": "success", "data": data})
    return Response(content=body, status_code=200, media_type=_JSON)


def _stream_steps(chunks: Iterator[bytes]) -> Stream:
    """`{"code":200,...,"data":[step, step, ...]}` produced lazily, one encoded step per chunk."""

    def body() -> Iterator[bytes]:
        yield b'{"code":200,"status":"success","data":['
        for i, chunk in enumerate(chunks):
            yield (b"," if i else b"") + chunk
        yield b"]}"

    return Stream(body(), media_type=_JSON)


class _Handlers:
    """Request handling bound to one SimConfig (one app instance per simulation)."""

    def __init__(self, config: SimConfig, cache: StepCache) -> None:
        self.config = config
        self.cache = cache

    def cluster(self, request: Request[Any, Any, Any]) -> int | Response[bytes]:
        index = int(request.path_params.get("cluster", 0))
        if not 0 <= index < self.config.clusters:
            return _error(404, f"unknown cluster {index}; have 0..{self.config.clusters - 1}")
        if index in self.config.fail_clusters:
            return _error(500, f"simulated failure for cluster {index}")
        return index

    def allocation(self, request: Request[Any, Any, Any]) -> Response[Any]:
        index = self.cluster(request)
        if isinstance(index, Response):
            return index
        q = request.query_params
        config = self.config
        try:
            start, end = params.parse_window(q.get("window"), config.current_time())
            step = params.parse_step(q.get("step"))
            accumulate = params.parse_bool("accumulate", q.get("accumulate"), False)
            include_idle = params.parse_bool("includeIdle", q.get("includeIdle"), False)
            aggregate = (q.get("aggregate") or "pod").strip()
            model.check_aggregate(aggregate)
        except ValueError as exc:
            return _error(400, str(exc))
        if accumulate:
            if not model.hour_is_available(config, start):
                return _ok([])
            return _ok(
                [model.allocation_window(config, index, start, end, aggregate, include_idle)]
            )

        def encoded(s: datetime, e: datetime) -> bytes:
            return _encoder.encode(
                model.allocation_window(config, index, s, e, aggregate, include_idle)
            )

        def chunks() -> Iterator[bytes]:
            for s, e in params.steps(start, end, step):
                if not model.hour_is_available(config, s):
                    return
                key = ("allocation", index, s, e, aggregate, include_idle)
                yield self.cache.get(key, partial(encoded, s, e))

        return _stream_steps(chunks())

    def assets(self, request: Request[Any, Any, Any], *, accumulate_default: bool) -> Response[Any]:
        index = self.cluster(request)
        if isinstance(index, Response):
            return index
        q = request.query_params
        config = self.config
        try:
            start, end = params.parse_window(q.get("window"), config.current_time())
            step = params.parse_step(q.get("step"))
            accumulate = params.parse_bool("accumulate", q.get("accumulate"), accumulate_default)
            if (q.get("aggregate") or "").strip():
                raise params.ParamError("the simulator serves assets unaggregated only")
        except ValueError as exc:
            return _error(400, str(exc))
        if accumulate:
            # OpenCost's /assets answers one asset set as an object, as in the fixture.
            return _ok(model.asset_window(config, index, start, end))

        def encoded(s: datetime, e: datetime) -> bytes:
            return _encoder.encode(model.asset_window(config, index, s, e))

        def chunks() -> Iterator[bytes]:
            for s, e in params.steps(start, end, step):
                if not model.hour_is_available(config, s):
                    return
                yield self.cache.get(("assets", index, s, e), partial(encoded, s, e))

        return _stream_steps(chunks())


def build_app(config: SimConfig, *, cache_bytes: int = 0) -> Litestar:
    """A Litestar app simulating `config.clusters` Kubecost/OpenCost instances; with
    `cache_bytes`, encoded steps are kept to answer again (`cache.StepCache`)."""
    h = _Handlers(config, StepCache(cache_bytes))

    # Handlers are async and push the CPU-bound work to a worker thread themselves: Litestar's
    # `sync_to_thread=True` breaks when one handler is registered under several paths.
    @get(_paths(ALLOCATION_PATHS), name="allocation")
    async def allocation(request: Request[Any, Any, Any]) -> Response[Any]:
        return await anyio.to_thread.run_sync(h.allocation, request)

    @get(_paths(("/model/assets",)), name="kubecost-assets")
    async def kubecost_assets(request: Request[Any, Any, Any]) -> Response[Any]:
        return await anyio.to_thread.run_sync(partial(h.assets, request, accumulate_default=False))

    @get(_paths(("/assets",)), name="opencost-assets")
    async def opencost_assets(request: Request[Any, Any, Any]) -> Response[Any]:
        return await anyio.to_thread.run_sync(partial(h.assets, request, accumulate_default=True))

    @get(["/healthz", f"{_CLUSTER_PREFIX}/healthz"], name="healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get("/clusters", name="clusters")
    async def clusters() -> dict[str, Any]:
        return {
            "clusters": [
                {"index": i, "name": model.cluster_name(i), "path": f"/clusters/{i}"}
                for i in range(config.clusters)
            ]
        }

    return Litestar(
        route_handlers=[allocation, kubecost_assets, opencost_assets, healthz, clusters],
        openapi_config=None,
        # Litestar's default logging config replaces the root handlers; the host process (tests,
        # `costpipe dev`) owns logging.
        logging_config=None,
    )


def _uvicorn_config(
    config: SimConfig, host: str, port: int, log_level: str, cache_bytes: int = 0
) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(config, cache_bytes=cache_bytes),
        host=host,
        port=port,
        log_level=log_level,
        ws="none",
        lifespan="on",
        access_log=False,
    )


def run(host: str, port: int, config: SimConfig, *, cache_bytes: int = 0) -> None:
    """Serve until interrupted (blocking)."""
    uvicorn.Server(_uvicorn_config(config, host, port, "info", cache_bytes)).run()


@contextlib.contextmanager
def serve_in_thread(
    config: SimConfig, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Run the simulator on a background thread; yields its base URL, stops it on exit.

    The socket is bound here, before the thread starts, so port 0 resolves to a real port the
    caller can use immediately and no other process can take it in between.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_uvicorn_config(config, host, bound_port, "warning"))
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"kubecost-sim-{bound_port}",
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("kubecost simulator failed to start")
            time.sleep(0.01)
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()
