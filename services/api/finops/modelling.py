"""Running statsmodels fits off the event loop, one at a time.

A forecast takes about a second of CPU; on the event loop it would stall every other request of
the process, so it runs in a worker thread. Fits are serialized by a lock because they silence
statsmodels' warnings with `warnings.catch_warnings`, which swaps process-wide state and is
only safe when no other fit does the same at the same moment; with the GIL, running them in
parallel would not be faster anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")

_FITS = threading.Lock()


def _serialized(function: Callable[[], T]) -> T:
    with _FITS:
        return function()


async def run_model(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await anyio.to_thread.run_sync(_serialized, partial(function, *args, **kwargs))
