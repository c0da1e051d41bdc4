"""Whose costs a FinOps request may see: the key's organization, narrowed by its allow-list.

The rollups carry no organization column, so the organization's clusters are read from the small
`cluster` table first and every query is bounded by `cluster_id = ANY(...)`. Clusters outside a
key's allow-list are left out of every total, silently, as if they did not exist; an empty
allow-list therefore sees zero everywhere rather than an error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request
from psycopg import sql

from services.api.auth import Principal, header_key, resolve_key
from services.api.unknown_params import refuse_unknown_query
from shared.db.pool import Conn

SCOPE = "finops:read"


async def finops_principal(request: Request[Any, Any, Any]) -> Principal:
    """X-API-Key only: a Bearer header alone is not a FinOps credential (401)."""
    state = request.app.state
    principal = await resolve_key(state.pool, header_key(request), state.get("key_cache"))
    state.rate_limiter.check(principal.key_id)
    principal.require_scope(SCOPE)
    refuse_unknown_query(request)
    return principal


@dataclass(frozen=True)
class Scope:
    cluster_names: dict[uuid.UUID, str]
    team: str | None = None
    owner: str | None = None
    # The clusters' data versions (shared/db/data_version.py), read with their names; None where
    # the rollups can change without a new version (TimescaleDB refreshes continuous aggregates
    # on its own schedule), so answers of this scope are not kept.
    versions: dict[uuid.UUID, int] | None = None

    @property
    def data_version(self) -> tuple[int, ...] | None:
        """The versions of the reachable clusters, in cluster order."""
        if self.versions is None:
            return None
        return tuple(self.versions.get(c, 0) for c in self.clusters)

    @property
    def clusters(self) -> list[uuid.UUID]:
        return sorted(self.cluster_names)

    def reach(self) -> tuple[sql.Composable, dict[str, object]]:
        """The organization bound of every query, without the dimension filters."""
        return sql.SQL("cluster_id = ANY(%(clusters)s)"), {"clusters": self.clusters}

    def filters(self) -> tuple[sql.Composable, dict[str, object]]:
        """orgId and userId, as a condition that is TRUE when neither was given."""
        parts: list[sql.Composable] = []
        params: dict[str, object] = {}
        if self.team is not None:
            parts.append(sql.SQL("team = %(team)s"))
            params["team"] = self.team
        if self.owner is not None:
            parts.append(sql.SQL("owner = %(owner)s"))
            params["owner"] = self.owner
        if not parts:
            return sql.SQL("TRUE"), params
        return sql.SQL(" AND ").join(parts), params

    def where(self) -> tuple[sql.Composable, dict[str, object]]:
        reach, reach_params = self.reach()
        filters, filter_params = self.filters()
        return sql.SQL("{} AND {}").format(reach, filters), {**reach_params, **filter_params}


async def load_scope(
    conn: Conn, principal: Principal, team: str | None = None, owner: str | None = None
) -> Scope:
    cursor = await conn.execute(
        "SELECT c.id, c.name, COALESCE(v.version, 0), (SELECT mode FROM rollup_mode LIMIT 1)"
        " FROM cluster c LEFT JOIN data_version v ON v.cluster_id = c.id"
        " WHERE c.organization_id = %s",
        (principal.organization_id,),
    )
    rows = [row for row in await cursor.fetchall() if principal.can_reach(row[0])]
    names = {row[0]: row[1] for row in rows}
    managed = all(row[3] == "managed" for row in rows)
    versions = {row[0]: int(row[2]) for row in rows} if managed else None
    return Scope(names, team, owner, versions)
