"""Garbage-collector settings for a process that decodes tens of thousands of events per batch.

Each decoded event allocates several container objects (UUIDs and the event itself). With the
default threshold of 700 allocations, CPython runs a collection every few dozen events and the
older generations are rescanned again and again while a batch is alive: measured on 100,000
events, decoding took 1.5 s with the default settings and 0.5 s with these. The hot path builds
no reference cycles, so collecting rarely reclaims nothing later than it would have anyway.
"""

from __future__ import annotations

import gc

# Young-generation collections every 50,000 net allocations instead of 700; the older
# generations keep their default ratios.
YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Move everything alive at start-up (modules, settings, clients) out of the collector's
    sight, and collect young objects far less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
