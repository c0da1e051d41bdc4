"""How the allocation writer uses its caller's transaction.

A batch of new keys is copied straight into the raw table and its rollup delta grouped from the
rows its transaction inserted, found by the transaction's id. Written inside a savepoint, the
rows carry another id: the writer must refuse loudly rather than add a delta that missed them.
A batch that meets stored keys is written again the general way, by the writer itself when the
transaction is its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import psycopg
import pytest

from services.aggregator.writer import BatchWriter, StoredKeys
from shared.events import AllocationEvent
from tests.support.aggregator_helpers import assert_database_matches, synthetic_stream

pytestmark = pytest.mark.integration


def _raw_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM allocation").fetchone()
    return found[0] if found is not None else -1


def test_a_write_inside_a_savepoint_is_refused_and_leaves_nothing(database_url: str) -> None:
    events, _ = synthetic_stream(200, seed=61)

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            with pytest.raises(RuntimeError, match="top level of its transaction"):
                async with conn.transaction(), conn.transaction():  # the inner one: a savepoint
                    await BatchWriter().write(conn, events)

    asyncio.run(scenario())
    assert _raw_rows(database_url) == 0


def test_stored_keys_are_written_again_the_general_way(database_url: str) -> None:
    events, _ = synthetic_stream(400, seed=62)
    first, second = events[:250], events[150:]  # 100 events of the second batch are stored

    async def write(batch: Sequence[AllocationEvent], own_transaction: bool) -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            if own_transaction:
                await BatchWriter().write(conn, batch)
                await conn.commit()
                return
            # In the caller's transaction, a stored key voids it: the caller rolls back and
            # writes the batch again with general=True.
            with pytest.raises(StoredKeys):
                async with conn.transaction():
                    await BatchWriter().write(conn, batch)
            async with conn.transaction():
                await BatchWriter().write(conn, batch, general=True)

    asyncio.run(write(first, own_transaction=True))
    asyncio.run(write(second, own_transaction=False))
    asyncio.run(write(events, own_transaction=True))  # all stored: the writer retries itself
    assert_database_matches(database_url, events)
