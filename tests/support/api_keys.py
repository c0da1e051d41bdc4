"""API keys in shapes `create_key` refuses to make, as databases may still hold them."""

from __future__ import annotations

import uuid

from psycopg import Connection
from psycopg.rows import TupleRow

from shared.apikeys import create_key


def empty_allow_list_key(
    conn: Connection[TupleRow], organization_id: uuid.UUID, name: str, scopes: tuple[str, ...]
) -> str:
    """A key stored with an empty allow-list, as keys were before empty lists were refused.

    Such rows stay in existing databases, and the API must keep reading them as "no cluster",
    never as "every cluster", so the API tests still need one. The key is made with an allow-list
    of one cluster that does not exist, then emptied the way an old row looks.
    """
    record, key = create_key(
        conn, organization_id, name, scopes, clusters=(uuid.uuid4(),), allow_unknown=True
    )
    conn.execute("UPDATE api_key SET allowed_cluster_ids = '{}' WHERE id = %s", (record.id,))
    return key
