"""Checks an event must pass before it may touch the database.

A failing event goes to the dead-letter topic with the reason; it never blocks its partition.
Per-field bounds are msgspec constraints on the event types (checked in C while decoding); a
violated one is turned back into a reason here. Only the rules that relate fields stay in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import msgspec

from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, AssetDecoder
from shared.events import (
    ALLOCATION_SCHEMA_VERSION,
    MAX_WINDOW,
    AllocationDecoder,
    AllocationEvent,
)

MAX_FUTURE = timedelta(hours=2)
MAX_EVENT_BYTES = 64 * 1024
# A constraint msgspec refused ("Expected `int` <= 10 - at `$.cost`"), not a wrong type
# ("Expected `int`, got `str` - at `$.cost`"): the rule and the top-level field it refused.
_CONSTRAINT = re.compile(r"^Expected `\w+` (?P<rule>.+) - at `\$\.(?P<field>\w+)`$")
_NAIVE_WINDOW = "window timestamps must carry a time zone"


class InvalidEvent(ValueError):
    """Why an event was rejected; the message goes into the dead-letter record."""


class _Refusals:
    """The reasons for one event kind's constraints, so that a refused bound reads as before."""

    def __init__(self, by_field: Mapping[str, str], otherwise: str) -> None:
        self._by_field = {"window_start": _NAIVE_WINDOW, "window_end": _NAIVE_WINDOW, **by_field}
        self._otherwise = otherwise

    def reason(self, error: msgspec.ValidationError) -> str:
        match = _CONSTRAINT.match(str(error))
        if match is None:
            return f"schema violation: {error}"
        field, rule = match["field"], match["rule"]
        return self._by_field.get(field) or self._otherwise.format(field=field, rule=rule)


_ALLOCATION_REFUSALS = _Refusals(
    {"name": "allocation name is empty"}, "{field} out of range: expected {rule}"
)
_ASSET_REFUSALS = _Refusals({"asset_key": "asset key is empty"}, "cost out of range")


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


def _decode(
    payload: bytes | None, decode: Callable[[bytes], E], version: int, refusals: _Refusals
) -> E:
    """Bytes to an event with one decoder; every way it can fail becomes an InvalidEvent."""
    if payload is None:
        raise InvalidEvent("empty message")
    if len(payload) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"message of {len(payload)} bytes exceeds {MAX_EVENT_BYTES}")
    try:
        return decode(payload)
    except msgspec.ValidationError as exc:
        _check_version(payload, version)
        raise InvalidEvent(refusals.reason(exc)) from exc
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"undecodable: {exc}") from exc


def _check_envelope(event: _Envelope, version: int, now: datetime) -> None:
    """The schema version and the window rules every event kind follows (the decoder has
    already refused windows without a time zone)."""
    if event.schema_version != version:
        raise InvalidEvent(f"unsupported schema_version {event.schema_version}")
    start, end = event.window_start, event.window_end
    if end <= start:
        raise InvalidEvent("window_end must be after window_start")
    if end - start > MAX_WINDOW:
        raise InvalidEvent(f"window longer than {MAX_WINDOW.days} days")
    if start > now + MAX_FUTURE:
        raise InvalidEvent("window starts in the future")


def validate(event: AllocationEvent, now: datetime) -> None:
    """What the decoder cannot check field by field; `event` must come from the decoder."""
    _check_envelope(event, ALLOCATION_SCHEMA_VERSION, now)
    if (event.total_cost < 0 or event.cost < 0) and not event.kind.is_idle_pool:
        raise InvalidEvent("negative cost")


class EventValidator:
    def __init__(self) -> None:
        self._decoder = AllocationDecoder()

    def parse(self, payload: bytes | None, now: datetime | None = None) -> AllocationEvent:
        event = _decode(
            payload, self._decoder.decode, ALLOCATION_SCHEMA_VERSION, _ALLOCATION_REFUSALS
        )
        validate(event, now or datetime.now(UTC))
        return event


def validate_asset(event: AssetCostEvent, now: datetime) -> None:
    """The window rules of allocations; the decoder has bounded the money and refused an empty
    asset key, so `event` must come from the decoder."""
    _check_envelope(event, ASSET_SCHEMA_VERSION, now)


class AssetEventValidator:
    """Asset cost events from the assets topic; failures go to the same dead-letter topic."""

    def __init__(self) -> None:
        self._decoder = AssetDecoder()

    def parse(self, payload: bytes | None, now: datetime | None = None) -> AssetCostEvent:
        event = _decode(payload, self._decoder.decode, ASSET_SCHEMA_VERSION, _ASSET_REFUSALS)
        validate_asset(event, now or datetime.now(UTC))
        return event
