"""API keys: generated once, shown once, stored as a SHA-256 hash of their secret.

A key looks like `cpk_<prefix>_<secret>`. The prefix is stored in clear to find the row; the
secret has 256 bits of entropy, so a fast hash is as safe as a slow one and keeps auth cheap.
Comparison is constant-time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

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
    """A key cannot be created as asked (unknown scope, organization or cluster; empty lists)."""


class _AllClusters(enum.Enum):
    ALL = "all clusters"


# A stored NULL allow-list reaches every cluster of the organization, including ones added later.
# That is the widest grant a key can have, so it is asked for by name, never reached by leaving a
# list empty or out: an empty tuple is refused instead.
ALL_CLUSTERS: Final = _AllClusters.ALL
ClusterGrant = tuple[uuid.UUID, ...] | Literal[_AllClusters.ALL]


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
    *,
    clusters: ClusterGrant,
    allow_unknown: bool = False,
) -> tuple[ApiKeyRecord, str]:
    """Store a new key; returns its record and the full key, which is never stored.

    Every path that creates keys comes through here, so the rules on what a key may grant live
    here rather than in the CLI: a key grants only what it names. `clusters` is `ALL_CLUSTERS` or
    the clusters it may reach; those must already be clusters of the organization unless
    `allow_unknown` says they are expected later, so a mistyped id fails loudly instead of
    minting a key that silently reaches nothing.
    """
    if not scopes:
        raise ApiKeyError(f"a key needs at least one scope; allowed: {', '.join(ALL_SCOPES)}")
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ApiKeyError(f"unknown scopes {unknown}; allowed: {', '.join(ALL_SCOPES)}")
    if (
        conn.execute("SELECT 1 FROM organization WHERE id = %s", (organization_id,)).fetchone()
        is None
    ):
        raise ApiKeyError(f"organization {organization_id} does not exist")
    allowed: tuple[uuid.UUID, ...] | None = None
    if clusters is not ALL_CLUSTERS:
        allowed = _checked_clusters(conn, organization_id, clusters, allow_unknown)
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
            None if allowed is None else list(allowed),
        ),
    ).fetchone()
    assert row is not None
    record = ApiKeyRecord(
        key_id,
        organization_id,
        name,
        prefix,
        scopes,
        allowed,
        row[0],
        None,
    )
    return record, f"{KEY_PREFIX}_{prefix}_{secret}"


def _checked_clusters(
    conn: Connection[TupleRow],
    organization_id: uuid.UUID,
    clusters: tuple[uuid.UUID, ...],
    allow_unknown: bool,
) -> tuple[uuid.UUID, ...]:
    """The allow-list to store, or ApiKeyError saying which ids cannot be granted and why."""
    # Checked at run time too: None or a list of strings from an untyped caller must not reach
    # the INSERT, where None would be stored as NULL, which means every cluster.
    if not isinstance(clusters, tuple) or not all(isinstance(c, uuid.UUID) for c in clusters):
        raise ApiKeyError(
            "clusters must be ALL_CLUSTERS or a tuple of cluster UUIDs, not " + repr(clusters)
        )
    if not clusters:
        raise ApiKeyError(
            "the cluster list is empty: name at least one cluster, or ask for all clusters"
            " explicitly (--all-clusters)"
        )
    wanted = tuple(dict.fromkeys(clusters))
    rows = conn.execute(
        "SELECT id, organization_id FROM cluster WHERE id = ANY(%s)", (list(wanted),)
    ).fetchall()
    owner = {row[0]: row[1] for row in rows}
    # A cluster of another organization will never become this one's (ids are primary keys), so
    # --allow-unknown cannot excuse it.
    foreign = [c for c in wanted if c in owner and owner[c] != organization_id]
    if foreign:
        raise ApiKeyError(
            f"clusters {', '.join(map(str, foreign))} belong to another organization, not"
            f" {organization_id}"
        )
    unknown = [c for c in wanted if c not in owner]
    if unknown and not allow_unknown:
        raise ApiKeyError(
            f"unknown clusters for organization {organization_id}:"
            f" {', '.join(map(str, unknown))}; if they are expected later, say so with"
            " --allow-unknown"
        )
    return wanted


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
