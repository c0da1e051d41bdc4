"""Raising the clusters' data versions in the transaction that changes their data.

The API serves a repeated request from the answer it computed before as long as the versions of
the clusters it covers are unchanged (services/api/finops/answer_cache.py); so every writer of
rows the API reads raises the version of each cluster it wrote, in the same transaction, and a
reader that sees the new rows also sees the new version. The rows are locked in cluster order,
as the rollup rows are, so concurrent writers queue instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from shared.db.pool import Conn

_RAISE = (
    "INSERT INTO data_version AS v (cluster_id, version)"
    " SELECT c, 1 FROM unnest(%(clusters)s::uuid[]) AS c ORDER BY c"
    " ON CONFLICT (cluster_id) DO UPDATE SET version = v.version + 1, changed_at = now()"
)


async def raise_versions(conn: Conn, clusters: Iterable[uuid.UUID]) -> None:
    ids = sorted(set(clusters))
    if ids:
        await conn.execute(_RAISE, {"clusters": ids})
