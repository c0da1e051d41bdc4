"""The async connection pool every service uses, with the session settings the SQL relies on."""

from __future__ import annotations

from typing import TypeAlias

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from shared.settings import DatabaseSettings

Conn: TypeAlias = AsyncConnection[TupleRow]
Pool: TypeAlias = AsyncConnectionPool[Conn]


async def _configure(conn: Conn) -> None:
    # Buckets are UTC everywhere; never let a server default time zone leak into date_trunc.
    await conn.execute("SET TIME ZONE 'UTC'")
    # Room for the aggregator's staged batch (tens of MB) in memory: with the default 8 MB every
    # large batch spilled its temporary tables to files. Allocated only as temporary tables
    # grow, and settable only before a session first uses one, hence here.
    await conn.execute("SET temp_buffers = '128MB'")
    await conn.commit()


def make_pool(settings: DatabaseSettings, name: str, timeout: float = 10.0) -> Pool:
    """An unopened pool; `await pool.open()` (or `async with`) starts it."""
    return AsyncConnectionPool(
        settings.url,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        name=name,
        timeout=timeout,
        configure=_configure,
        open=False,
        kwargs={"application_name": f"costpipe-{name}"},
    )
