"""A Kubecost stand-in built on the simulator's model that can change its past answers.

The simulator never restates an hour and does not say what it was asked; a real Kubecost does
restate recent hours, and the collector's restart tests need to see each request. This server
answers the allocation and assets APIs over real HTTP from `services.kubecost_sim.model`, records
every window it is asked for, lets a test move its clock, and lets a test change one allocation's
cost in one hour afterwards, the way Kubecost's reconciliation does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from services.kubecost_sim import model
from services.kubecost_sim.model import SimConfig

_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Request:
    cluster: int
    api: str  # "allocation" or "assets"
    start: datetime
    end: datetime


@dataclass
class RestatingSource:
    config: SimConfig
    base_url: str = ""
    requests: list[Request] = field(default_factory=list)
    # (cluster, hour start, allocation name) -> cost added, in Kubecost's units of 1e-5
    changes: dict[tuple[int, datetime, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, cluster: int) -> str:
        return f"{self.base_url}/clusters/{cluster}"

    def move_clock(self, now: datetime) -> None:
        self.config = replace(self.config, now=now)

    def restate(self, cluster: int, hour: datetime, name: str, delta_units: int) -> None:
        """From now on, answer `name`'s cost in `hour` `delta_units` * 1e-5 higher (CPU cost)."""
        self.changes[(cluster, hour, name)] = delta_units

    def take_requests(self, api: str = "allocation") -> list[Request]:
        with self._lock:
            taken = [r for r in self.requests if r.api == api]
            self.requests.clear()
        return taken

    def allocation_steps(self, cluster: int, start: datetime, end: datetime) -> list[Any]:
        steps: list[Any] = []
        hour = start
        while hour < end and model.hour_is_available(self.config, hour):
            step = model.allocation_set(self.config, cluster, hour)
            for (c, h, name), delta in self.changes.items():
                if c == cluster and h == hour:
                    _add_cost(step[name], delta)
            steps.append(step)
            hour += _HOUR
        return steps


def _add_cost(allocation: dict[str, Any], delta_units: int) -> None:
    for key in ("cpuCost", "totalCost"):
        allocation[key] = (round(allocation[key] * 100_000) + delta_units) / 100_000


def _window(query: dict[str, list[str]]) -> tuple[datetime, datetime]:
    start, end = query["window"][0].split(",")
    return (
        datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC),
        datetime.fromisoformat(end.replace("Z", "+00:00")).astimezone(UTC),
    )


def _handler(source: RestatingSource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            segments = parts.path.strip("/").split("/")
            if len(segments) != 4 or segments[0] != "clusters" or segments[2] != "model":
                self.send_error(404)
                return
            cluster, api = int(segments[1]), segments[3]
            start, end = _window(parse_qs(parts.query))
            with source._lock:
                source.requests.append(Request(cluster, api, start, end))
            if api == "allocation":
                data: Any = source.allocation_steps(cluster, start, end)
            else:
                data = [model.asset_window(source.config, cluster, start, end)]
            body = msgspec.json.encode({"code": 200, "status": "success", "data": data})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def restating_source(config: SimConfig) -> Iterator[RestatingSource]:
    source = RestatingSource(config)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(source))
    httpd.daemon_threads = True
    source.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield source
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
