"""Parameters of costs/realtime: what may be passed on to Kubecost, checked before it is.

`window` is a Kubecost window, not the family's: only the forms that mean the same in both
places are accepted. `Nh` (the last N hours, ending with the current one) and `Nd` (today and
the N-1 days before) agree; `w` and `m` do not (Kubecost's `m` is minutes and its weeks start on
Sunday), so they are refused rather than silently meaning something else. Kubecost's named
windows (today, yesterday, week, lastweek, month, lastmonth) pass through as they are.
"""

from __future__ import annotations

import re
import uuid

from services.api.errors import bad_request, validation_error

DEFAULT_WINDOW = "1d"
DEFAULT_AGGREGATE = "namespace"
NAMED_WINDOWS = ("today", "yesterday", "week", "lastweek", "month", "lastmonth")
WINDOW_LIMITS = {"h": 744, "d": 90}  # realtime reads are for recent spans; rollups hold the rest
AGGREGATES = (
    "namespace",
    "cluster",
    "node",
    "controller",
    "controllerKind",
    "deployment",
    "statefulset",
    "daemonset",
    "job",
    "pod",
    "container",
    "service",
    "team",
    "owner",
    "department",
    "environment",
    "product",
)
LABEL_PREFIX = "label:"
AGGREGATE_CHOICES = [*AGGREGATES, LABEL_PREFIX + "<key>"]
_CANONICAL = {a.lower(): a for a in AGGREGATES}
_WINDOW = re.compile(r"(\d+)([a-z]+)")
# A Kubernetes label key: an optional DNS prefix and a name, 63 characters or fewer each.
_LABEL_KEY = re.compile(r"(?:[a-z0-9.-]{1,253}/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")


def window(raw: str | None) -> str:
    if raw is None:
        return DEFAULT_WINDOW
    text = raw.strip().lower()
    if text in NAMED_WINDOWS:
        return text
    match = _WINDOW.fullmatch(text) if len(text) <= 64 else None
    if match is None:
        raise bad_request(
            "'window' must look like 1d or 24h, or be one of " + ", ".join(NAMED_WINDOWS),
            parameter="window",
            format="<count><unit>",
            units=list(WINDOW_LIMITS),
            words=list(NAMED_WINDOWS),
        )
    digits, unit = match.groups()
    if unit not in WINDOW_LIMITS:
        raise validation_error(
            f"'window' has the unit '{unit[:8]}'; realtime windows count hours (h) or days (d)",
            parameter="window",
            allowed=[*WINDOW_LIMITS, *NAMED_WINDOWS],
        )
    limit = WINDOW_LIMITS[unit]
    count = int(digits) if len(digits) <= 6 else limit + 1
    if not 1 <= count <= limit:
        raise validation_error(
            f"'window' must count between 1 and {limit} units of '{unit}'",
            parameter="window",
            minimum=1,
            maximum=limit,
        )
    return f"{count}{unit}"


def aggregate(raw: str | None) -> str:
    if raw is None:
        return DEFAULT_AGGREGATE
    text = raw.strip()
    canonical = _CANONICAL.get(text.lower())
    if canonical is not None:
        return canonical
    if text.lower().startswith(LABEL_PREFIX) and _LABEL_KEY.fullmatch(text[len(LABEL_PREFIX) :]):
        return LABEL_PREFIX + text[len(LABEL_PREFIX) :]
    raise validation_error(
        f"'aggregate' must be one of {', '.join(AGGREGATE_CHOICES)}",
        parameter="aggregate",
        allowed=AGGREGATE_CHOICES,
    )


def cluster_id(raw: str | None) -> uuid.UUID | None:
    if raw is None:
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise bad_request(
            "'clusterId' must be a cluster id (a UUID)", parameter="clusterId"
        ) from None
