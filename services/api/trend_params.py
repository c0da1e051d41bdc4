"""Parsing and validation of the cost-trend query model, with the spec's error codes.

Parameters are read as raw strings so that each mistake gets the code the contract documents
(400 for malformed input, 422 for well-formed but unacceptable values), not a framework default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from services.api.errors import ApiError, bad_request, validation_error
from shared.timewindows import Resolution

E = TypeVar("E", bound=StrEnum)

MAX_WINDOW = timedelta(days=5 * 365 + 2)  # five years, leap days included
HOURLY_CAP = timedelta(days=60)
AUTO_HOURLY_LIMIT = timedelta(days=14)
_MIN_EPOCH = 0
_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z


class TrendType(StrEnum):
    RUN_RATE = "run_rate"
    BREAKDOWN = "breakdown"


class CostMode(StrEnum):
    FULLY_LOADED = "fully_loaded"
    WORKLOAD_ONLY = "workload_only"


@dataclass(frozen=True)
class TrendQuery:
    start: datetime
    end: datetime
    type: TrendType
    granularity: Resolution
    cost_mode: CostMode | None


def _epoch(name: str, raw: str | None) -> datetime:
    if raw is None or raw == "":
        raise bad_request(f"'{name}' is required (unix epoch seconds)", parameter=name)
    text = raw.strip()
    if not (text.lstrip("-").isdigit() and text.isascii()):
        raise bad_request(f"'{name}' must be an integer (unix epoch seconds)", parameter=name)
    value = int(text)
    if not _MIN_EPOCH <= value <= _MAX_EPOCH:
        raise validation_error(
            f"'{name}' must be between {_MIN_EPOCH} and {_MAX_EPOCH}", parameter=name
        )
    return datetime.fromtimestamp(value, tz=UTC)


def _enum(name: str, raw: str | None, enum: type[E], default: E) -> E:
    if raw is None:
        return default
    try:
        return enum(raw)
    except ValueError:
        allowed = [e.value for e in enum]
        raise validation_error(
            f"'{name}' must be one of {', '.join(allowed)}", parameter=name, allowed=allowed
        ) from None


def parse_trend_query(
    start: str | None,
    end: str | None,
    type_: str | None,
    granularity: str | None,
    cost_mode: str | None,
    default_cost_mode: CostMode | None,
) -> TrendQuery:
    """`default_cost_mode=None` marks the node-group scope, which rejects `cost_mode` entirely."""
    start_at = _epoch("start", start)
    end_at = _epoch("end", end)
    if end_at <= start_at:
        raise validation_error("'end' must be greater than 'start'")
    window = end_at - start_at
    if window > MAX_WINDOW:
        raise validation_error("the window must not exceed 5 years")
    trend_type = _enum("type", type_, TrendType, TrendType.RUN_RATE)
    if granularity is None or granularity == "auto":
        resolution = Resolution.HOURLY if window <= AUTO_HOURLY_LIMIT else Resolution.DAILY
        if trend_type is TrendType.BREAKDOWN and resolution is Resolution.HOURLY:
            resolution = Resolution.DAILY
    else:
        resolution = _enum("granularity", granularity, Resolution, Resolution.DAILY)
        if resolution is Resolution.HOURLY and window > HOURLY_CAP:
            raise validation_error("granularity=hourly is limited to windows of 60 days")
        if resolution is Resolution.HOURLY and trend_type is TrendType.BREAKDOWN:
            raise validation_error("type=breakdown needs granularity daily or coarser")
    mode: CostMode | None
    if default_cost_mode is None:
        if cost_mode is not None:
            raise ApiError(
                422,
                "INVALID_COST_MODE",
                "the node-group endpoint does not accept cost_mode: a node group has one bill",
            )
        mode = None
    elif cost_mode is None:
        mode = default_cost_mode
    else:
        try:
            mode = CostMode(cost_mode)
        except ValueError:
            raise ApiError(
                422,
                "INVALID_COST_MODE",
                "cost_mode must be fully_loaded or workload_only",
                {"allowed": [m.value for m in CostMode]},
            ) from None
    return TrendQuery(start_at, end_at, trend_type, resolution, mode)
