"""Running statsmodels fits off the event loop, one at a time.

statsmodels (with pandas and scipy) takes seconds to import, longer than the rest of the API:
the model modules import it where they fit, and `preload_models` imports it in a background
thread once the API is up, so start-up and readiness do not wait for it.

A forecast takes about a second of CPU; on the event loop it would stall every other request of
the process, so it runs in a worker thread. Fits are serialized by a lock because they silence
statsmodels' warnings with `warnings.catch_warnings`, which swaps process-wide state and is
only safe when no other fit does the same at the same moment; with the GIL, running them in
parallel would not be faster anyway.

A fitted answer is stored (`model_answer`), keyed by the digest of its whole input: the same
history asked again, by any API process, now or after a restart, is read instead of fitted.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import ParamSpec, TypeVar

import anyio.to_thread
import msgspec

from services.api.finops.scope import Scope
from shared.db.pool import Pool

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)

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


# Part of every stored answer's key: raise it when a model's code changes its numbers, so
# answers computed by the old code are not served for the same input.
MODEL_VERSION = b"forecast-1"
# Answers of a scope older than this (and not the newest) are deleted when a new one is stored.
KEEP_ANSWERS = timedelta(days=7)


def input_digest(*parts: object) -> bytes:
    """The digest of everything an answer is a function of (msgspec-encodable parts)."""
    digest = hashlib.sha256(MODEL_VERSION)
    for part in parts:
        digest.update(msgspec.msgpack.encode(part))
    return digest.digest()


async def stored_answer(
    pool: Pool, kind: str, scope_key: str, digest: bytes, answer_type: type[S]
) -> S | None:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT answer FROM model_answer"
            " WHERE kind = %s AND scope_key = %s AND input_digest = %s",
            (kind, scope_key, digest),
        )
        row = await cursor.fetchone()
    if row is None:
        return None
    stored: bytes = row[0]
    return msgspec.json.decode(stored, type=answer_type)


async def store_answer(
    pool: Pool,
    kind: str,
    scope_key: str,
    digest: bytes,
    answer: msgspec.Struct,
    data_through: datetime | None,
) -> None:
    """Keep `answer` for later requests (and later processes); a concurrent request that
    computed the same answer stored the same bytes, so the first one stays."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO model_answer (kind, scope_key, input_digest, data_through, answer)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (kind, scope_key, digest, data_through, msgspec.json.encode(answer)),
        )
        await conn.execute(
            "DELETE FROM model_answer WHERE kind = %s AND scope_key = %s"
            " AND input_digest <> %s AND computed_at < now() - %s",
            (kind, scope_key, digest, KEEP_ANSWERS),
        )


def scope_key(scope: Scope) -> str:
    """Which clusters and dimension filters an answer covers (answers are keyed by their input
    anyway; this groups a scope's answers for pruning and inspection)."""
    clusters = ",".join(str(c) for c in scope.clusters)
    return hashlib.sha256(f"{clusters}|{scope.team}|{scope.owner}".encode()).hexdigest()[:32]
