"""Garbage-collector settings for a process that decodes tens of thousands of events per batch.

Each decoded event allocates several objects the cyclic collector tracks (four UUIDs, the Kafka
record, its parse result). With automatic collections those objects are scanned several times
while their batch is alive, once per young collection and again as they age: measured in session
5, collections took 0.8 s of an 8.6 s run over 200,000 events (on top of session 3's change from
700 to 50,000 allocations between young collections). The hot path builds no reference cycles,
and everything it allocates is freed by reference counting when its batch goes; so automatic
collections are turned off and a full collection runs between batches once a minute, which bounds
what any cycle made elsewhere (an exception's traceback, a library's) can hold.
"""

from __future__ import annotations

import gc
import time

FULL_COLLECTION_SECONDS = 60.0


def tune_garbage_collector() -> None:
    """Move everything alive at start-up (modules, settings, clients) out of the collector's
    sight and stop automatic collections (see `PeriodicCollection`)."""
    gc.collect()
    gc.freeze()
    gc.disable()


class PeriodicCollection:
    """The full collection automatic collection would have run, at a moment the caller picks."""

    def __init__(self, every_seconds: float = FULL_COLLECTION_SECONDS) -> None:
        self.every_seconds = every_seconds
        self._last = time.monotonic()

    def collect_if_due(self) -> bool:
        """Collect if automatic collection is off and the last collection is old enough."""
        if gc.isenabled():  # collections run by themselves (a process that kept the defaults)
            return False
        now = time.monotonic()
        if now - self._last < self.every_seconds:
            return False
        gc.collect()
        self._last = time.monotonic()
        return True
