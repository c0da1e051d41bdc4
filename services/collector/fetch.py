"""HTTP access to one cluster's Kubecost/OpenCost, with timeouts and retries.

Retries use exponential backoff with full jitter, so many clusters failing together do not retry
in lockstep. A 4xx other than 408/429 is not retried: asking again will not change the answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import httpx

from services.collector.config import ClusterConfig, CollectorConfig
from services.collector.kubecost_response import KubecostResponseError
from services.collector.kubecost_schema import (
    AllocationStep,
    AssetStep,
    allocation_steps_of,
    asset_steps_of,
)
from shared.timewindows import isoformat_z

log = logging.getLogger(__name__)

S = TypeVar("S")
_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class FetchError(RuntimeError):
    """A window could not be fetched.

    `reason` is for people (recorded with the gap); `category` is one of a few fixed words
    (`timeout`, `connection`, `bad_response`, `http_<status>`) so it can label a metric without
    letting free text explode its cardinality.
    """

    def __init__(self, reason: str, attempts: int, category: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.category = category


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0

    @classmethod
    def from_config(cls, config: CollectorConfig) -> RetryPolicy:
        return cls(
            config.max_attempts, config.retry_base_delay_seconds, config.retry_max_delay_seconds
        )

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))  # noqa: S311


def _ignore_retry(category: str) -> None:
    return None


class KubecostClient:
    def __init__(
        self,
        cluster: ClusterConfig,
        http: httpx.AsyncClient,
        retry: RetryPolicy,
        on_retry: Callable[[str], None] = _ignore_retry,
    ) -> None:
        self.cluster = cluster
        self._http = http
        self._retry = retry
        self._on_retry = on_retry

    def _headers(self) -> dict[str, str]:
        if self.cluster.auth_header is None:
            return {}
        return {"Authorization": self.cluster.auth_header}

    async def allocation_steps(self, start: datetime, end: datetime) -> list[AllocationStep]:
        params = {
            "window": f"{isoformat_z(start)},{isoformat_z(end)}",
            "aggregate": self.cluster.aggregate,
            "accumulate": "false",
            "step": "1h",
            "includeIdle": "true",
        }
        return await self._get_steps(self.cluster.allocation_path, params, allocation_steps_of)

    async def asset_steps(self, start: datetime, end: datetime) -> list[AssetStep]:
        """Hourly steps, like the allocations: one asset cost event per asset and hour. A server
        that ignores `step` (OpenCost's /assets) answers one set for the whole window instead."""
        params = {
            "window": f"{isoformat_z(start)},{isoformat_z(end)}",
            "accumulate": "false",
            "step": "1h",
        }
        return await self._get_steps(self.cluster.assets_path, params, asset_steps_of)

    async def _get_steps(
        self, path: str, params: dict[str, str], parse: Callable[[bytes], list[S]]
    ) -> list[S]:
        url = self.cluster.base_url + path
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.get(url, params=params, headers=self._headers())
                if response.status_code != 200:
                    reason = f"HTTP {response.status_code}"
                    category = f"http_{response.status_code}"
                    retryable = response.status_code in _RETRYABLE_STATUS
                else:
                    return parse(response.content)
            except httpx.TimeoutException as exc:
                reason, category, retryable = f"timeout ({type(exc).__name__})", "timeout", True
            except httpx.TransportError as exc:
                reason = f"connection error: {type(exc).__name__}: {exc}"
                category, retryable = "connection", True
            except KubecostResponseError as exc:
                reason, category, retryable = f"bad response: {exc}", "bad_response", True
            if not retryable or attempt >= self._retry.max_attempts:
                raise FetchError(reason, attempt, category)
            self._on_retry(category)
            delay = self._retry.delay(attempt)
            log.warning(
                "cluster %s: %s %s failed (%s), retry %d in %.1fs",
                self.cluster.name,
                path,
                params.get("window"),
                reason,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
