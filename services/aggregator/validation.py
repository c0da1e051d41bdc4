"""Checks an event must pass before it may touch the database.

A failing event goes to the dead-letter topic with the reason; it never blocks its partition.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationDecoder, AllocationEvent

MAX_WINDOW = timedelta(days=31)
MAX_FUTURE = timedelta(hours=2)
MAX_EVENT_BYTES = 64 * 1024
_INT64_MAX = 2**63 - 1


class InvalidEvent(ValueError):
    """Why an event was rejected; the message goes into the dead-letter record."""


def _check_version(payload: bytes) -> None:
    """Refuse unknown schema versions by name before decoding against the current schema."""
    try:
        header = msgspec.json.decode(payload, type=dict[str, object])
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"undecodable: {exc}") from exc
    version = header.get("schema_version", ALLOCATION_SCHEMA_VERSION)
    if version != ALLOCATION_SCHEMA_VERSION:
        raise InvalidEvent(f"unsupported schema_version {version!r}")


def validate(event: AllocationEvent, now: datetime) -> None:
    if event.schema_version != ALLOCATION_SCHEMA_VERSION:
        raise InvalidEvent(f"unsupported schema_version {event.schema_version}")
    if event.window_start.tzinfo is None or event.window_end.tzinfo is None:
        raise InvalidEvent("window timestamps must carry a time zone")
    if event.window_end <= event.window_start:
        raise InvalidEvent("window_end must be after window_start")
    if event.window_end - event.window_start > MAX_WINDOW:
        raise InvalidEvent("window longer than 31 days")
    if event.window_start > now + MAX_FUTURE:
        raise InvalidEvent("window starts in the future")
    if not event.name:
        raise InvalidEvent("allocation name is empty")
    if not event.kind.is_idle_pool and (event.total_cost < 0 or event.cost < 0):
        raise InvalidEvent("negative cost")
    for value in (event.total_cost, event.cost, event.idle_share):
        if abs(value) > _INT64_MAX // 1024:
            raise InvalidEvent("cost out of range")


class EventValidator:
    def __init__(self) -> None:
        self._decoder = AllocationDecoder()

    def parse(self, payload: bytes | None, now: datetime | None = None) -> AllocationEvent:
        if payload is None:
            raise InvalidEvent("empty message")
        if len(payload) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"message of {len(payload)} bytes exceeds {MAX_EVENT_BYTES}")
        try:
            event = self._decoder.decode(payload)
        except msgspec.ValidationError as exc:
            _check_version(payload)
            raise InvalidEvent(f"schema violation: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise InvalidEvent(f"undecodable: {exc}") from exc
        validate(event, now or datetime.now(UTC))
        return event
