"""Checks an event must pass before it may touch the database.

A failing event goes to the dead-letter topic with the reason; it never blocks its partition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import msgspec

from services.aggregator.writer import MONEY_COLUMNS
from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, AssetDecoder
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationDecoder, AllocationEvent

MAX_WINDOW = timedelta(days=31)
MAX_FUTURE = timedelta(hours=2)
MAX_EVENT_BYTES = 64 * 1024
# Ten million a window: far above any real allocation, and low enough that the rollups' bigint
# sums cannot overflow even over a year of thousands of such rows.
MAX_MONEY = 10**13
# Bounds on the quantities the rollups turn into integer core-hours and KiB-hours (a million
# cores or GPUs, an exabyte of RAM, a 31-day window): within them no product overflows a bigint.
_QUANTITY_LIMITS = {
    "minutes": MAX_WINDOW.total_seconds() / 60,
    "cpu_core_hours": 1e12,
    "cpu_core_request_average": 1e6,
    "cpu_core_usage_average": 1e6,
    "ram_byte_hours": 1e24,
    "ram_byte_request_average": 1e18,
    "ram_byte_usage_average": 1e18,
    "gpu_hours": 1e12,
    "gpu_request_average": 1e6,
    "gpu_usage_average": 1e6,
}


class InvalidEvent(ValueError):
    """Why an event was rejected; the message goes into the dead-letter record."""


def _check_version(payload: bytes, known: int = ALLOCATION_SCHEMA_VERSION) -> None:
    """Refuse unknown schema versions by name before decoding against the current schema."""
    try:
        header = msgspec.json.decode(payload, type=dict[str, object])
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"undecodable: {exc}") from exc
    version = header.get("schema_version", known)
    if version != known:
        raise InvalidEvent(f"unsupported schema_version {version!r}")


class _Envelope(Protocol):
    """What allocation and asset events share: a schema version and a window."""

    @property
    def schema_version(self) -> int: ...
    @property
    def window_start(self) -> datetime: ...
    @property
    def window_end(self) -> datetime: ...


E = TypeVar("E")


def _decode(payload: bytes | None, decode: Callable[[bytes], E], version: int) -> E:
    """Bytes to an event with one decoder; every way it can fail becomes an InvalidEvent."""
    if payload is None:
        raise InvalidEvent("empty message")
    if len(payload) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"message of {len(payload)} bytes exceeds {MAX_EVENT_BYTES}")
    try:
        return decode(payload)
    except msgspec.ValidationError as exc:
        _check_version(payload, version)
        raise InvalidEvent(f"schema violation: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"undecodable: {exc}") from exc


def _check_envelope(event: _Envelope, version: int, now: datetime) -> None:
    """The schema version and the window rules every event kind follows."""
    if event.schema_version != version:
        raise InvalidEvent(f"unsupported schema_version {event.schema_version}")
    if event.window_start.tzinfo is None or event.window_end.tzinfo is None:
        raise InvalidEvent("window timestamps must carry a time zone")
    if event.window_end <= event.window_start:
        raise InvalidEvent("window_end must be after window_start")
    if event.window_end - event.window_start > MAX_WINDOW:
        raise InvalidEvent("window longer than 31 days")
    if event.window_start > now + MAX_FUTURE:
        raise InvalidEvent("window starts in the future")


def validate(event: AllocationEvent, now: datetime) -> None:
    _check_envelope(event, ALLOCATION_SCHEMA_VERSION, now)
    if not event.name:
        raise InvalidEvent("allocation name is empty")
    if not event.kind.is_idle_pool and (event.total_cost < 0 or event.cost < 0):
        raise InvalidEvent("negative cost")
    for field in MONEY_COLUMNS:
        if abs(getattr(event, field)) > MAX_MONEY:
            raise InvalidEvent(f"{field} out of range")
    for field, limit in _QUANTITY_LIMITS.items():
        value = getattr(event, field)
        if not (0 <= value <= limit):  # also refuses NaN
            raise InvalidEvent(f"{field} out of range: {value!r}")


class EventValidator:
    def __init__(self) -> None:
        self._decoder = AllocationDecoder()

    def parse(self, payload: bytes | None, now: datetime | None = None) -> AllocationEvent:
        event = _decode(payload, self._decoder.decode, ALLOCATION_SCHEMA_VERSION)
        validate(event, now or datetime.now(UTC))
        return event


def validate_asset(event: AssetCostEvent, now: datetime) -> None:
    """The window rules of allocations; money may be negative only as an adjustment or credit,
    so it is bounded, not signed."""
    _check_envelope(event, ASSET_SCHEMA_VERSION, now)
    if not event.asset_key:
        raise InvalidEvent("asset key is empty")
    amounts = (event.cpu_cost, event.ram_cost, event.gpu_cost, event.adjustment, event.total_cost)
    if any(abs(value) > MAX_MONEY for value in amounts):
        raise InvalidEvent("cost out of range")


class AssetEventValidator:
    """Asset cost events from the assets topic; failures go to the same dead-letter topic."""

    def __init__(self) -> None:
        self._decoder = AssetDecoder()

    def parse(self, payload: bytes | None, now: datetime | None = None) -> AssetCostEvent:
        event = _decode(payload, self._decoder.decode, ASSET_SCHEMA_VERSION)
        validate_asset(event, now or datetime.now(UTC))
        return event
