"""How the allocation writer uses its caller's transaction.

A batch of new keys is copied straight into the raw table and its rollup delta grouped from the
rows its transaction inserted, found by the transaction's id. Written inside a savepoint, the
rows carry another id: the writer must refuse loudly rather than add a delta that missed them.
A batch that meets stored keys is written again the general way, by the writer itself when the
transaction is its own. So is a batch that holds a key twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import msgspec
import psycopg
import pytest

from services.aggregator.writer import BatchWriter, StoredKeys, latest_per_key
from shared.events import AllocationEvent
from tests.support.aggregator_helpers import assert_database_matches, synthetic_stream

pytestmark = pytest.mark.integration


def _raw_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM allocation").fetchone()
    return found[0] if found is not None else -1


def test_a_write_inside_a_savepoint_is_refused_and_leaves_nothing(database_url: str) -> None:
    events = latest_per_key(synthetic_stream(200, seed=61)[0])  # each key once: the direct copy

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            with pytest.raises(RuntimeError, match="top level of its transaction"):
                async with conn.transaction(), conn.transaction():  # the inner one: a savepoint
                    await BatchWriter().write(conn, events)

    asyncio.run(scenario())
    assert _raw_rows(database_url) == 0


def test_stored_keys_are_written_again_the_general_way(database_url: str) -> None:
    events = latest_per_key(synthetic_stream(400, seed=62)[0])  # each key once: the direct copy
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


def test_a_key_twice_in_one_batch_is_written_the_general_way(database_url: str) -> None:
    """Restated versions share their event id (derived from the key): the writer sees it and
    goes the general way at once. A producer minting ids of its own hides the repeat from that
    check; the raw table's unique key refuses the copy instead, and the batch is written again."""
    events, _ = synthetic_stream(300, seed=63)
    assert len({e.event_id for e in events}) < len(events)  # replays and restatements
    new_key = msgspec.structs.replace(events[0], name="minted/app", event_id=uuid.UUID(int=1))
    minted = [
        new_key,
        msgspec.structs.replace(
            new_key, event_id=uuid.UUID(int=2), produced_at=new_key.produced_at.replace(year=2025)
        ),
    ]

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            async with conn.transaction():  # the caller's: no StoredKeys to handle
                await BatchWriter().write(conn, events)
            with pytest.raises(StoredKeys):
                async with conn.transaction():
                    await BatchWriter().write(conn, minted)
            await BatchWriter().write(conn, minted)  # its own transaction: retried by itself
            await conn.commit()

    asyncio.run(scenario())
    assert_database_matches(database_url, [*events, *minted])
