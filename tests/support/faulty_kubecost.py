"""A Kubecost that goes wrong on demand: an HTTP proxy in front of the simulator whose answers,
per simulated cluster, can be switched at run time to a 500, a hang, or JSON cut in half.

The collector under test is a separate process configured with this proxy's URLs, so a test
breaks and heals one cluster's source while everything else keeps running. Healthy answers are
the simulator's own bytes, so the ground truth stays `ground_truth_total`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from tests.support.http_stub import JsonHandler, serving


class Fault(StrEnum):
    NONE = "none"
    ERROR_500 = "500"
    HANG = "hang"
    TRUNCATED = "truncated"


@dataclass
class FaultySource:
    upstream: str
    hang_seconds: float = 5.0
    delay_seconds: float = 0.0  # added to every answer: stretches a backfill to strike in
    base_url: str = ""
    faults: dict[int, Fault] = field(default_factory=dict)
    answered: Counter[str] = field(default_factory=Counter)  # fault -> requests answered
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, cluster: int) -> str:
        return f"{self.base_url}/clusters/{cluster}"

    def fault_of(self, path: str) -> Fault:
        parts = path.split("/")
        index = int(parts[2]) if len(parts) > 2 and parts[1] == "clusters" else 0
        with self._lock:
            fault = self.faults.get(index, Fault.NONE)
            self.answered[fault.value] += 1
        return fault


def _handler(source: FaultySource, client: httpx.Client) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            fault = source.fault_of(self.path)
            if source.delay_seconds:
                time.sleep(source.delay_seconds)
            if fault is Fault.ERROR_500:
                self.send_json(500, b'{"code":500,"status":"error","message":"query failed"}')
                return
            if fault is Fault.HANG:
                time.sleep(source.hang_seconds)
            upstream = client.get(source.upstream + self.path)
            body = upstream.content
            if fault is Fault.TRUNCATED:
                body = body[: len(body) // 2]
            self.send_json(upstream.status_code, body)

    return Handler


@contextmanager
def faulty_source(upstream: str) -> Iterator[FaultySource]:
    source = FaultySource(upstream)
    with httpx.Client(timeout=60) as client, serving(_handler(source, client)) as base_url:
        source.base_url = base_url
        yield source
