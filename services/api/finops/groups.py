"""Grouping keys and display names for every `groupBy`, and folding long tails into "Other".

`namespace`, `node_group`, `service`, `team` and `owner` group by value across clusters (a
`web` namespace in two clusters is one group); `workload` groups by workload uid, which is
already unique per cluster. Rows with no value for the dimension form one group whose key is ""
and whose name is "(none)", so totals always add up to the unfiltered total.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.api.finops.params import GroupBy, ResourceType
from services.api.finops.queries import NIL_UUID, Grouped, Measures
from services.api.finops.scope import Scope
from shared.db.pool import Conn

DIMENSIONS: dict[GroupBy, tuple[str, ...]] = {
    GroupBy.CLUSTER: ("cluster_id",),
    GroupBy.NAMESPACE: ("namespace",),
    GroupBy.WORKLOAD: ("cluster_id", "namespace", "workload_uid", "kind"),
    GroupBy.NODE_GROUP: ("node_group",),
    GroupBy.SERVICE: ("service",),
    GroupBy.TEAM: ("team",),
    GroupBy.OWNER: ("owner",),
}
NONE_NAME = "(none)"
OTHER_KEY, OTHER_NAME = "__other__", "Other"
RESOURCE_NAMES = {
    ResourceType.CPU: "CPU",
    ResourceType.RAM: "RAM",
    ResourceType.GPU: "GPU",
    ResourceType.STORAGE: "Storage",
    ResourceType.NETWORK: "Network",
    ResourceType.LOAD_BALANCER: "Load balancer",
    ResourceType.SHARED: "Shared",
    ResourceType.EXTERNAL: "External",
    ResourceType.IDLE: "Idle",
}
ACRONYMS = frozenset(
    {"ai", "api", "cd", "ci", "cpu", "db", "dns", "etl", "gpu", "grpc", "http", "id", "io"}
    | {"llm", "ml", "rag", "sql", "ui", "url", "vm"}
)


def humanize(value: str) -> str:
    """A service label as a title: `llm` -> `LLM`, `model-serving` -> `Model Serving`."""
    words = [w for w in re.split(r"[-_.\s]+", value) if w]
    if not words:
        return NONE_NAME
    return " ".join(w.upper() if w.lower() in ACRONYMS else w[:1].upper() + w[1:] for w in words)


@dataclass(frozen=True)
class Group:
    group_key: str
    name: str
    measures: Measures


@dataclass(frozen=True)
class WorkloadName:
    namespace: str
    kind: str
    name: str


async def workload_names(conn: Conn, uids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WorkloadName]:
    wanted = sorted({u for u in uids if u != NIL_UUID})
    if not wanted:
        return {}
    cursor = await conn.execute(
        "SELECT uid, namespace, kind, name FROM workload WHERE uid = ANY(%s)", (wanted,)
    )
    return {row[0]: WorkloadName(row[1], row[2], row[3]) for row in await cursor.fetchall()}


def workload_label(
    key: tuple[object, ...], names: dict[uuid.UUID, WorkloadName]
) -> tuple[str, str]:
    """(group_key, name) of a (cluster_id, namespace, workload_uid, kind) key.

    Rows without a workload (unallocated, idle) have the nil uid; they are keyed by cluster,
    namespace and kind so that two clusters' unallocated costs stay apart.
    """
    cluster_id, namespace, uid, kind = key
    assert isinstance(uid, uuid.UUID)
    known = names.get(uid)
    if uid != NIL_UUID:
        return str(uid), f"{known.namespace}/{known.name}" if known else str(uid)
    return f"{cluster_id}/{namespace}/__{kind}__", f"__{kind}__" + (
        f" ({namespace})" if namespace else ""
    )


async def labels(
    conn: Conn, scope: Scope, group_by: GroupBy, keys: Sequence[tuple[object, ...]]
) -> dict[tuple[object, ...], tuple[str, str]]:
    """(group_key, name) for each dimension key of `group_by`."""
    if group_by is GroupBy.WORKLOAD:
        names = await workload_names(conn, [k[2] for k in keys if isinstance(k[2], uuid.UUID)])
        return {key: workload_label(key, names) for key in keys}
    result: dict[tuple[object, ...], tuple[str, str]] = {}
    for key in keys:
        (value,) = key
        if group_by is GroupBy.CLUSTER:
            assert isinstance(value, uuid.UUID)
            result[key] = (str(value), scope.cluster_names.get(value, str(value)))
        elif group_by is GroupBy.SERVICE:
            result[key] = (str(value), humanize(str(value)))
        else:
            result[key] = (str(value), str(value) or NONE_NAME)
    return result


async def dimension_groups(
    conn: Conn, scope: Scope, group_by: GroupBy, rows: Sequence[Grouped]
) -> list[Group]:
    names = await labels(conn, scope, group_by, [r.key for r in rows])
    return [Group(*names[r.key], r.measures) for r in rows]


def resource_groups(measures: Measures) -> list[Group]:
    """One group per resource type; an `other` group only when Kubecost's total differs."""
    groups = []
    for resource in ResourceType:
        only = dict.fromkeys(ResourceType, 0)
        only[resource] = measures.resources[resource]
        workload = 0 if resource is ResourceType.IDLE else only[resource]
        groups.append(
            Group(
                resource.value,
                RESOURCE_NAMES[resource],
                Measures(only[resource], workload, only),
            )
        )
    if measures.other:
        zero = dict.fromkeys(ResourceType, 0)
        groups.append(Group("other", "Other", Measures(measures.other, measures.other, zero)))
    return groups


def largest_first(
    groups: Sequence[Group], limit: int, resource: ResourceType | None = None
) -> list[Group]:
    """The `limit` largest groups by amount, then one "Other" group holding all the rest."""
    ordered = sorted(groups, key=lambda g: (-g.measures.amount(resource), g.group_key))
    if len(ordered) <= limit:
        return ordered
    rest = Measures.zero()
    for group in ordered[limit:]:
        rest = rest + group.measures
    return [*ordered[:limit], Group(OTHER_KEY, OTHER_NAME, rest)]
