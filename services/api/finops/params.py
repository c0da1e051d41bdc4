"""Validation of the FinOps query parameters other than time spans.

Parameters arrive as raw strings so each mistake gets the contract's code: text that is not what
the parameter's type says (a non-integer `limit`) is 400 BAD_REQUEST; a well-formed value outside
the accepted set or range is 422 VALIDATION_ERROR with the allowed values in `details`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from services.api.errors import bad_request, validation_error
from shared.timewindows import Resolution

E = TypeVar("E", bound=StrEnum)
MAX_LABEL = 253  # a Kubernetes label value or DNS name never exceeds this


class ResourceType(StrEnum):
    CPU = "cpu"
    RAM = "ram"
    GPU = "gpu"
    STORAGE = "storage"
    NETWORK = "network"
    LOAD_BALANCER = "load_balancer"
    SHARED = "shared"
    EXTERNAL = "external"
    IDLE = "idle"


class GroupBy(StrEnum):
    CLUSTER = "cluster"
    NAMESPACE = "namespace"
    WORKLOAD = "workload"
    NODE_GROUP = "node_group"
    SERVICE = "service"
    TEAM = "team"
    OWNER = "owner"
    RESOURCE_TYPE = "resource_type"


# orgId filters `team` and userId filters `owner`, so the same words are accepted for grouping.
GROUP_ALIASES = {"org": GroupBy.TEAM, "user": GroupBy.OWNER}
GROUP_CHOICES = [g.value for g in GroupBy] + list(GROUP_ALIASES)


def integer(name: str, raw: str | None, default: int, minimum: int, maximum: int) -> int:
    if raw is None:
        return default
    text = raw.strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise bad_request(f"'{name}' must be an integer", parameter=name)
    # More than 12 digits is well-formed but far outside every range; skip converting it.
    if len(digits) > 12 or not minimum <= int(text) <= maximum:
        raise validation_error(
            f"'{name}' must be between {minimum} and {maximum}",
            parameter=name,
            minimum=minimum,
            maximum=maximum,
        )
    return int(text)


def choice(name: str, raw: str | None, enum: type[E], default: E | None = None) -> E | None:
    if raw is None:
        return default
    try:
        return enum(raw.strip().lower())
    except ValueError:
        allowed = [e.value for e in enum]
        raise validation_error(
            f"'{name}' must be one of {', '.join(allowed)}", parameter=name, allowed=allowed
        ) from None


def group_by(raw: str | None, default: GroupBy | None) -> GroupBy | None:
    if raw is None:
        return default
    text = raw.strip().lower()
    if text in GROUP_ALIASES:
        return GROUP_ALIASES[text]
    try:
        return GroupBy(text)
    except ValueError:
        raise validation_error(
            f"'groupBy' must be one of {', '.join(GROUP_CHOICES)}",
            parameter="groupBy",
            allowed=GROUP_CHOICES,
        ) from None


def granularity(raw: str | None, default: Resolution) -> Resolution:
    chosen = choice("granularity", raw, Resolution, default)
    assert chosen is not None
    return chosen


def label(name: str, raw: str | None) -> str | None:
    """A label value to filter on: 1 to 253 printable characters.

    Control characters can be no Kubernetes label's value, and PostgreSQL refuses NUL in text.
    """
    if raw is None:
        return None
    if not raw or len(raw) > MAX_LABEL or not raw.isprintable():
        raise bad_request(
            f"'{name}' must be 1 to {MAX_LABEL} printable characters",
            parameter=name,
            maximum=MAX_LABEL,
        )
    return raw
