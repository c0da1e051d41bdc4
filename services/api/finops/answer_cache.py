"""FinOps answers kept in the API process until the data they were computed from changes.

A dashboard polled by fifty teams asks the same questions of the same data again and again;
between two aggregator writes of a cluster every answer about it is the same. So an answer is
kept under everything it is a function of: the endpoint and its parameters, the scope (clusters,
team and owner filters), the hour it was asked in (windows end at the current bucket, and
"today" moves with the clock) and the data versions of the scope's clusters, which every writer
raises in the transaction that changes their rows (shared/db/data_version.py). The versions are
read with the scope, before any rollup row, so the rows an answer read are never older than the
versions it is kept under: a write committed in between only makes the kept answer newer than its
key, and the next request, seeing the new version, computes again.

Answers are kept per process (each API replica computes an answer once per data version) and the
least recently used go first beyond `capacity`; `capacity` 0 keeps nothing. Scopes whose rollups
change without a version (continuous aggregates, refreshed by TimescaleDB) are never kept.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from litestar import Request

from services.api.finops.scope import Scope
from shared.metrics import API_ANSWERS
from shared.timewindows import floor_hour

T = TypeVar("T")

DEFAULT_CAPACITY = 1000


@dataclass(frozen=True)
class AnswerKey:
    endpoint: str
    parameters: tuple[Hashable, ...]
    clusters: tuple[uuid.UUID, ...]
    team: str | None
    owner: str | None
    hour: datetime
    versions: tuple[int, ...]


class AnswerCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._answers: OrderedDict[AnswerKey, object] = OrderedDict()

    def key(
        self, endpoint: str, parameters: tuple[Hashable, ...], scope: Scope, now: datetime
    ) -> AnswerKey | None:
        """The answer's key, or None when it must not be kept."""
        versions = scope.data_version
        if versions is None or self.capacity <= 0:
            return None
        return AnswerKey(
            endpoint,
            parameters,
            tuple(scope.clusters),
            scope.team,
            scope.owner,
            floor_hour(now),
            versions,
        )

    def get(self, key: AnswerKey | None, kind: type[T]) -> T | None:
        if key is None:
            return None
        answer = self._answers.get(key)
        if not isinstance(answer, kind):
            API_ANSWERS.labels(key.endpoint, "computed").inc()
            return None
        self._answers.move_to_end(key)
        API_ANSWERS.labels(key.endpoint, "kept").inc()
        return answer

    def put(self, key: AnswerKey | None, answer: object) -> None:
        if key is None:
            return
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.capacity:
            self._answers.popitem(last=False)

    async def through(
        self,
        endpoint: str,
        parameters: tuple[Hashable, ...],
        scope: Scope,
        now: datetime,
        compute: Callable[[], Awaitable[T]],
        kind: type[T],
    ) -> T:
        """The kept answer, or `compute()`'s, kept for the next request."""
        key = self.key(endpoint, parameters, scope, now)
        kept = self.get(key, kind)
        if kept is not None:
            return kept
        answer = await compute()
        self.put(key, answer)
        return answer


def answer_cache(request: Request[Any, Any, Any]) -> AnswerCache:
    cache: AnswerCache = request.app.state.answer_cache
    return cache
