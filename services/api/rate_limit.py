"""Per-key request quota: a token bucket per API key, in this process.

Each API replica enforces the quota on its own; behind N replicas a key may get up to N times the
quota. That is the usual trade for not putting a shared store on every request's path, and it is
documented in docs/api.md.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field

from services.api.errors import ApiError


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    per_minute: int
    clock: object = field(default=time.monotonic)
    _buckets: dict[uuid.UUID, _Bucket] = field(default_factory=dict)

    def _now(self) -> float:
        clock = self.clock
        assert callable(clock)
        return float(clock())

    def check(self, key_id: uuid.UUID) -> None:
        """Spend one token of `key_id`, or raise 429 with the seconds until the next one."""
        if self.per_minute <= 0:
            return
        now = self._now()
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(self.per_minute), now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        retry_after = max(1, math.ceil((1.0 - bucket.tokens) / rate))
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"quota of {self.per_minute} requests per minute exceeded for this API key",
            {"limit_per_minute": self.per_minute, "retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
