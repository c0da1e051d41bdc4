"""Who is calling: API key lookup, scope checks and cluster allow-lists.

The cost-trend family takes `Authorization: Bearer <key>`, the FinOps family `X-API-Key`; both
resolve to the same principal. Unknown, malformed and revoked keys are indistinguishable to the
caller (401), and the secret is compared in constant time.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request

from services.api.errors import ApiError
from shared.apikeys import hash_secret, secret_matches, split_key
from shared.db.pool import Pool


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    organization_id: uuid.UUID
    scopes: frozenset[str]
    allowed_cluster_ids: frozenset[uuid.UUID] | None

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ApiError(
                403,
                "FORBIDDEN",
                f"this API key lacks the '{scope}' scope",
                {"required_scope": scope},
            )

    def can_reach(self, cluster_id: uuid.UUID) -> bool:
        return self.allowed_cluster_ids is None or cluster_id in self.allowed_cluster_ids


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


def bearer_key(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("missing Authorization: Bearer <api key> header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <api key>'")
    return token.strip()


def header_key(request: Request[Any, Any, Any]) -> str:
    key = request.headers.get("x-api-key")
    if not key:
        raise _unauthorized("missing X-API-Key header")
    return key.strip()


class KeyCache:
    """Resolved keys for a few seconds, so a busy client costs one key lookup per TTL, not one
    per request. A revoked key stops working within the TTL (default 5 s; 0 turns it off).

    Entries are keyed by the SHA-256 of the whole key, so the cache never holds a secret.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, Principal]] = {}

    def get(self, key: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(hash_secret(key))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[hash_secret(key)] = (time.monotonic() + self.ttl, principal)


async def resolve_key(pool: Pool, key: str, cache: KeyCache | None = None) -> Principal:
    cached = None if cache is None else cache.get(key)
    if cached is not None:
        return cached
    parts = split_key(key)
    if parts is None:
        raise _unauthorized("invalid API key")
    prefix, secret = parts
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, organization_id, secret_hash, scopes, allowed_cluster_ids, revoked_at"
            " FROM api_key WHERE prefix = %s",
            (prefix,),
        )
        row = await cursor.fetchone()
    if row is None or row[5] is not None or not secret_matches(secret, bytes(row[2])):
        raise _unauthorized("invalid API key")
    allowed = row[4]
    principal = Principal(
        key_id=row[0],
        organization_id=row[1],
        scopes=frozenset(row[3]),
        allowed_cluster_ids=None if allowed is None else frozenset(allowed),
    )
    if cache is not None:
        cache.put(key, principal)
    return principal
