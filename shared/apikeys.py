"""API keys: generated once, shown once, stored as a SHA-256 hash of their secret.

A key looks like `cpk_<prefix>_<secret>`. The prefix is stored in clear to find the row; the
secret has 256 bits of entropy, so a fast hash is as safe as a slow one and keeps auth cheap.
Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection
from psycopg.rows import TupleRow

KEY_PREFIX = "cpk"
ALL_SCOPES = (
    "clusters:read",
    "namespaces:read",
    "workloads:read",
    "nodes:read",
    "organization:read",
    "finops:read",
)


class ApiKeyError(ValueError):
    """A key cannot be created as asked (unknown scope, unknown organization)."""


@dataclass(frozen=True)
class ApiKeyRecord:
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    prefix: str
    scopes: tuple[str, ...]
    allowed_cluster_ids: tuple[uuid.UUID, ...] | None
    created_at: datetime
    revoked_at: datetime | None


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def split_key(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def create_key(
    conn: Connection[TupleRow],
    organization_id: uuid.UUID,
    name: str,
    scopes: tuple[str, ...],
    allowed_cluster_ids: tuple[uuid.UUID, ...] | None = None,
) -> tuple[ApiKeyRecord, str]:
    """Store a new key; returns its record and the full key, which is never stored."""
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ApiKeyError(f"unknown scopes {unknown}; allowed: {', '.join(ALL_SCOPES)}")
    if (
        conn.execute("SELECT 1 FROM organization WHERE id = %s", (organization_id,)).fetchone()
        is None
    ):
        raise ApiKeyError(f"organization {organization_id} does not exist")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    key_id = uuid.uuid4()
    row = conn.execute(
        "INSERT INTO api_key (id, organization_id, name, prefix, secret_hash, scopes,"
        " allowed_cluster_ids) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING created_at",
        (
            key_id,
            organization_id,
            name,
            prefix,
            hash_secret(secret),
            list(scopes),
            None if allowed_cluster_ids is None else list(allowed_cluster_ids),
        ),
    ).fetchone()
    assert row is not None
    record = ApiKeyRecord(
        key_id,
        organization_id,
        name,
        prefix,
        scopes,
        allowed_cluster_ids,
        row[0],
        None,
    )
    return record, f"{KEY_PREFIX}_{prefix}_{secret}"


def list_keys(
    conn: Connection[TupleRow], organization_id: uuid.UUID | None = None
) -> list[ApiKeyRecord]:
    query = (
        "SELECT id, organization_id, name, prefix, scopes, allowed_cluster_ids, created_at,"
        " revoked_at FROM api_key"
    )
    params: tuple[object, ...] = ()
    if organization_id is not None:
        query += " WHERE organization_id = %s"
        params = (organization_id,)
    rows = conn.execute(query + " ORDER BY created_at", params).fetchall()
    return [
        ApiKeyRecord(
            r[0],
            r[1],
            r[2],
            r[3],
            tuple(r[4]),
            None if r[5] is None else tuple(r[5]),
            r[6],
            r[7],
        )
        for r in rows
    ]


def revoke_key(conn: Connection[TupleRow], prefix: str) -> bool:
    cursor = conn.execute(
        "UPDATE api_key SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL", (prefix,)
    )
    return cursor.rowcount == 1
