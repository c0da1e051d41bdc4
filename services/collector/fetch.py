"""HTTP access to one cluster's Kubecost/OpenCost, with timeouts and retries.

Retries use exponential backoff with full jitter, so many clusters failing together do not retry
in lockstep. A 4xx other than 408/429 is not retried: asking again will not change the answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from services.collector.config import ClusterConfig
from services.collector.kubecost_response import KubecostResponseError, steps_of
from shared.timewindows import isoformat_z

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class FetchError(RuntimeError):
    """A window could not be fetched; `reason` is short and stable enough to record as a gap."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))  # noqa: S311


class KubecostClient:
    def __init__(self, cluster: ClusterConfig, http: httpx.AsyncClient, retry: RetryPolicy) -> None:
        self.cluster = cluster
        self._http = http
        self._retry = retry

    def _headers(self) -> dict[str, str]:
        if self.cluster.auth_header is None:
            return {}
        return {"Authorization": self.cluster.auth_header}

    async def allocation_steps(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        params = {
            "window": f"{isoformat_z(start)},{isoformat_z(end)}",
            "aggregate": self.cluster.aggregate,
            "accumulate": "false",
            "step": "1h",
            "includeIdle": "true",
        }
        return await self._get_steps(self.cluster.allocation_path, params)

    async def asset_steps(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        params = {"window": f"{isoformat_z(start)},{isoformat_z(end)}", "accumulate": "true"}
        return await self._get_steps(self.cluster.assets_path, params)

    async def _get_steps(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        url = self.cluster.base_url + path
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.get(url, params=params, headers=self._headers())
                if response.status_code != 200:
                    reason = f"HTTP {response.status_code}"
                    retryable = response.status_code in _RETRYABLE_STATUS
                else:
                    return steps_of(response.content)
            except httpx.TimeoutException:
                reason, retryable = "timeout", True
            except httpx.TransportError as exc:
                reason, retryable = f"connection error: {type(exc).__name__}", True
            except KubecostResponseError as exc:
                reason, retryable = f"bad response: {exc}", True
            if not retryable or attempt >= self._retry.max_attempts:
                raise FetchError(reason, attempt)
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
