"""Running statsmodels fits off the event loop, one at a time.

statsmodels (with pandas and scipy) takes seconds to import, longer than the rest of the API:
the model modules import it where they fit, and `preload_models` imports it in a background
thread once the API is up, so start-up and readiness do not wait for it.

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


def _import_models() -> None:
    import statsmodels.tsa.api
    import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401


def preload_models() -> None:
    threading.Thread(target=_import_models, name="preload-statsmodels", daemon=True).start()


def _serialized(function: Callable[[], T]) -> T:
    with _FITS:
        return function()


async def run_model(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await anyio.to_thread.run_sync(_serialized, partial(function, *args, **kwargs))
