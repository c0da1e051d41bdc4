"""Forecasts and anomaly answers fitted ahead of the request, when the data they depend on changes.

A fit takes up to seconds of CPU; stored per input (`model_answer`), it is paid once per input, but
by the first request that sees a new input: after every midnight (a new complete day) and after a
restatement of a past day. So the API remembers the questions asked (`model_request`: scope and
parameters, refreshed whenever an API process computes the answer, forgotten after 7 days without
one) and a refresher in each API process, every `COSTPIPE_API_MODEL_REFRESH_SECONDS`, reads each
question's input again and fits it if no answer is stored for it yet: the way the request would,
through the same functions, so the request then reads the stored fit. One process at a time does a
round (a PostgreSQL advisory lock); the others skip it. Fits run in the worker thread, one at a
time, beside the requests' own fits.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from services.api.finops.anomaly_report import anomalies_for
from services.api.finops.forecast import ForecastModel
from services.api.finops.forecast_report import forecast_for
from services.api.finops.modelling import scope_key
from services.api.finops.scope import Scope
from shared.db.pool import Pool

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(days=7)
# pg_advisory_lock key of the refresh round: one API process at a time.
_ROUND_LOCK = 0x636F7374_6D6F646C  # "costmodl"


class ModelQuestion(msgspec.Struct, frozen=True):
    """A forecast (months, model) or anomalies (days, threshold) question about a scope."""

    kind: str  # "forecast" or "anomalies"
    clusters: list[uuid.UUID]
    team: str | None = None
    owner: str | None = None
    months: int | None = None
    model: str | None = None
    days: int | None = None
    threshold: str | None = None

    @classmethod
    def forecast(cls, scope: Scope, months: int, model: ForecastModel) -> ModelQuestion:
        return cls("forecast", scope.clusters, scope.team, scope.owner, months, model.value)

    @classmethod
    def anomalies(cls, scope: Scope, days: int, threshold: Decimal) -> ModelQuestion:
        return cls(
            "anomalies",
            scope.clusters,
            scope.team,
            scope.owner,
            days=days,
            threshold=str(threshold),
        )

    def encoded(self) -> bytes:
        return msgspec.json.encode(self)


async def remember(pool: Pool, question: ModelQuestion, scope: Scope) -> None:
    """Keep the question for the refresher (its last-asked time moves on)."""
    encoded = question.encoded()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO model_request (kind, request_digest, scope_key, request)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (kind, request_digest)"
            " DO UPDATE SET last_asked = now()",
            (question.kind, hashlib.sha256(encoded).digest(), scope_key(scope), encoded),
        )


async def answer(pool: Pool, question: ModelQuestion, scope: Scope, now: datetime) -> object:
    """The answer the question gets at `now`, read if stored for its current input, else fitted."""
    if question.kind == "forecast":
        assert question.months is not None
        assert question.model is not None
        return await forecast_for(pool, scope, question.months, ForecastModel(question.model), now)
    assert question.days is not None
    assert question.threshold is not None
    return await anomalies_for(pool, scope, question.days, Decimal(question.threshold), now)


async def refresh_round(pool: Pool, now: datetime | None = None) -> int:
    """Bring every remembered question's stored answer up to its current input; returns the
    questions looked at (0 when another process holds the round)."""
    async with pool.connection() as lock:
        cursor = await lock.execute("SELECT pg_try_advisory_lock(%s)", (_ROUND_LOCK,))
        row = await cursor.fetchone()
        if not (row and row[0]):
            return 0
        try:
            await lock.execute(
                "DELETE FROM model_request WHERE last_asked < now() - %s", (FORGET_AFTER,)
            )
            cursor = await lock.execute(
                "SELECT request FROM model_request ORDER BY kind, last_asked DESC"
            )
            questions = [
                msgspec.json.decode(bytes(r[0]), type=ModelQuestion)
                for r in await cursor.fetchall()
            ]
            for question in questions:
                cursor = await lock.execute(
                    "SELECT id, name FROM cluster WHERE id = ANY(%s)", (question.clusters,)
                )
                names = {r[0]: r[1] for r in await cursor.fetchall()}
                scope = Scope(names, question.team, question.owner)
                await answer(pool, question, scope, now or datetime.now(UTC))
            return len(questions)
        finally:
            await lock.execute("SELECT pg_advisory_unlock(%s)", (_ROUND_LOCK,))


async def refresh_forever(pool: Pool, every_seconds: float) -> None:
    """The refresher of an API process, until cancelled; a failed round is logged and retried at
    the next one (the database may be away for a while)."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            looked_at = await refresh_round(pool)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("model refresh round failed; next in %ss", every_seconds, exc_info=True)
        else:
            log.debug("model refresh round: %d question(s)", looked_at)
