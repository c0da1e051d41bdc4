"""Encoded steps kept for answering again: the simulator as a store, not a generator, on demand.

A real Kubecost answers from data its ETL already built; the simulator builds every hour when it
is asked, in one Python process, which made it the slowest part of the collector's benchmark (the
collector waited on it). With a budget, each encoded step is kept (least recently used dropped
first), so a window asked again is served from memory, as Kubecost would serve it. The model is
deterministic, so a kept step is byte-identical to a freshly generated one. Off by default.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class StepCache:
    """Encoded steps by key, at most `budget_bytes` in all; safe across the server's threads."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._steps: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The step of `key`, made (outside the lock: generating is the slow part) if missing."""
        if self.budget_bytes <= 0:
            return make()
        with self._lock:
            found = self._steps.get(key)
            if found is not None:
                self._steps.move_to_end(key)
                return found
        made = make()
        with self._lock:
            if key not in self._steps and len(made) <= self.budget_bytes:
                self._steps[key] = made
                self._bytes += len(made)
                while self._bytes > self.budget_bytes:
                    _, dropped = self._steps.popitem(last=False)
                    self._bytes -= len(dropped)
        return made
