"""A local HTTP server that replays recorded Kubecost/OpenCost responses.

A live Kubecost cannot run here; the recorded real responses in shared/fixtures stand in for it.
Routes map a path to a file; a route can also be told to fail (status, hang, truncate) to test
the collector's fault handling.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
OPENCOST = FIXTURES / "opencost"


@dataclass
class Route:
    body: bytes
    status: int = 200
    delay: float = 0.0
    truncate_to: int | None = None


@dataclass
class ReplayServer:
    routes: dict[str, Route]
    requests: list[str] = field(default_factory=list)
    base_url: str = ""


def _handler(server_state: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.requests.append(self.path)
            route = server_state.routes.get(urlsplit(self.path).path)
            if route is None:
                self.send_error(404)
                return
            if route.delay:
                time.sleep(route.delay)
            body = route.body if route.truncate_to is None else route.body[: route.truncate_to]
            self.send_response(route.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


class _QuietServer(ThreadingHTTPServer):
    """Stays silent when a client hangs up before its answer is written (a client timeout)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


QuietServer = _QuietServer  # for other stand-ins whose clients give up on purpose


@contextmanager
def replay_server(
    routes: dict[str, Route], *, quiet_disconnects: bool = False
) -> Iterator[ReplayServer]:
    """`quiet_disconnects`: for tests whose client gives up on purpose (a `delay` longer than
    its timeout), so the server's late write to a closed socket prints no traceback."""
    state = ReplayServer(routes)
    server_class = _QuietServer if quiet_disconnects else ThreadingHTTPServer
    httpd = server_class(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def opencost_routes() -> dict[str, Route]:
    allocation = (OPENCOST / "allocation-7d-by-namespace.json").read_bytes()
    assets = (OPENCOST / "assets-7d.json").read_bytes()
    return {
        "/allocation": Route(allocation),
        "/allocation/compute": Route(allocation),
        "/assets": Route(assets),
    }
