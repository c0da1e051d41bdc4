"""The reasons bad events are dead-lettered with, now that per-field bounds are msgspec
constraints: each must read as it did when Python checked them (tests and operators match on
them), and a valid event must pass untouched."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from services.aggregator.validation import AssetEventValidator, EventValidator, InvalidEvent
from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, encode_asset_event
from shared.events import (
    ALLOCATION_SCHEMA_VERSION,
    MAX_MONEY,
    AllocationEvent,
    AllocationKind,
    encode_event,
)

NOW = datetime(2026, 1, 6, tzinfo=UTC)
START = datetime(2026, 1, 5, tzinfo=UTC)


def _allocation(**changes: object) -> AllocationEvent:
    event = AllocationEvent(
        schema_version=ALLOCATION_SCHEMA_VERSION,
        event_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        cluster_name="c",
        window_start=START,
        window_end=START + timedelta(hours=1),
        name="ns/pod",
        cost=1_000_000,
        total_cost=1_000_000,
        minutes=60.0,
        cpu_core_hours=0.5,
        produced_at=NOW,
    )
    return msgspec.structs.replace(event, **changes)


def _asset(**changes: object) -> AssetCostEvent:
    event = AssetCostEvent(
        schema_version=ASSET_SCHEMA_VERSION,
        event_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        cluster_name="c",
        window_start=START,
        window_end=START + timedelta(hours=1),
        asset_key="aws/node-1",
        total_cost=2_000_000,
        adjustment=-100,
        produced_at=NOW,
    )
    return msgspec.structs.replace(event, **changes)


def _changed(payload: bytes, **changes: object) -> bytes:
    """The JSON with fields replaced, bypassing the Struct (which does not check on init)."""
    document = msgspec.json.decode(payload)
    document.update(changes)
    return msgspec.json.encode(document)


def _reason(validator: EventValidator | AssetEventValidator, payload: bytes | None) -> str:
    with pytest.raises(InvalidEvent) as refused:
        validator.parse(payload, NOW)
    return str(refused.value)


def test_a_valid_allocation_passes_unchanged_and_untracked_by_the_gc() -> None:
    event = _allocation(cost=MAX_MONEY, total_cost=-0, idle_share=-MAX_MONEY)
    parsed = EventValidator().parse(encode_event(event), NOW)
    assert parsed == event
    assert not gc.is_tracked(parsed)


def test_idle_pool_rows_may_carry_negative_cost() -> None:
    event = _allocation(kind=AllocationKind.IDLE, cost=-5, total_cost=-5)
    assert EventValidator().parse(encode_event(event), NOW) == event


NAIVE = "2026-01-05T00:00:00"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"schema_version": 2}, "unsupported schema_version 2"),
        ({"schema_version": "one"}, "unsupported schema_version 'one'"),
        ({"schema_version": 2, "cost": 2**62}, "unsupported schema_version 2"),
        ({"cost": -5, "total_cost": -5}, "negative cost"),
        ({"cost": "12.50"}, "schema violation: Expected `int`, got `str` - at `$.cost`"),
        ({"cost": 1.5}, "schema violation"),
        ({"event_id": "not-a-uuid"}, "schema violation"),
        ({"kind": "pod"}, "schema violation"),
        ({"name": ""}, "allocation name is empty"),
        ({"cost": 2**62}, "cost out of range"),
        ({"cpu_cost": MAX_MONEY + 1}, "cpu_cost out of range: expected <= 10000000000000"),
        ({"idle_share": -MAX_MONEY - 1}, "idle_share out of range: expected >= -10000000000000"),
        ({"cpu_core_request_average": 1e300}, "cpu_core_request_average out of range"),
        ({"ram_byte_hours": -1.0}, "ram_byte_hours out of range: expected >= 0.0"),
        ({"minutes": 31 * 24 * 60 + 1}, "minutes out of range"),
        ({"window_start": NAIVE}, "window timestamps must carry a time zone"),
        ({"window_end": NAIVE}, "window timestamps must carry a time zone"),
        ({"window_end": START.isoformat()}, "window_end must be after window_start"),
        ({"window_end": (START + timedelta(days=32)).isoformat()}, "window longer than 31 days"),
        (
            {
                "window_start": (NOW + timedelta(days=1)).isoformat(),
                "window_end": (NOW + timedelta(days=1, hours=1)).isoformat(),
            },
            "window starts in the future",
        ),
    ],
)
def test_bad_allocations_are_refused_with_their_reason(
    changes: dict[str, object], reason: str
) -> None:
    payload = _changed(encode_event(_allocation()), **changes)
    assert _reason(EventValidator(), payload).startswith(reason)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "empty message"),
        (b"{not json", "undecodable"),
        (b'{"minutes": NaN}', "undecodable"),
        (b"x" * (64 * 1024 + 1), "message of 65537 bytes exceeds 65536"),
    ],
)
def test_unreadable_messages_are_refused(payload: bytes | None, reason: str) -> None:
    assert _reason(EventValidator(), payload).startswith(reason)


@pytest.mark.parametrize("infinite", [b"1e999", b"-1e999"])
def test_infinite_quantities_are_refused(infinite: bytes) -> None:
    payload = encode_event(_allocation()).replace(b'"minutes":60.0', b'"minutes":' + infinite)
    assert _reason(EventValidator(), payload).startswith("undecodable: Number out of range")


def test_a_valid_asset_passes_unchanged_and_untracked_by_the_gc() -> None:
    event = _asset(cpu_cost=MAX_MONEY, adjustment=-MAX_MONEY)
    parsed = AssetEventValidator().parse(encode_asset_event(event), NOW)
    assert parsed == event
    assert not gc.is_tracked(parsed)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"schema_version": 2}, "unsupported schema_version 2"),
        ({"asset_key": ""}, "asset key is empty"),
        ({"total_cost": MAX_MONEY + 1}, "cost out of range"),
        ({"adjustment": -MAX_MONEY - 1}, "cost out of range"),
        ({"gpu_cost": "1"}, "schema violation: Expected `int`, got `str` - at `$.gpu_cost`"),
        ({"window_start": NAIVE}, "window timestamps must carry a time zone"),
        ({"window_end": START.isoformat()}, "window_end must be after window_start"),
    ],
)
def test_bad_assets_are_refused_with_their_reason(changes: dict[str, object], reason: str) -> None:
    payload = _changed(encode_asset_event(_asset()), **changes)
    assert _reason(AssetEventValidator(), payload) == reason


@pytest.mark.parametrize(
    ("event", "encode", "validator"),
    [
        (_allocation(), encode_event, EventValidator()),
        (_asset(), encode_asset_event, AssetEventValidator()),
    ],
)
def test_defaults_are_left_out_but_the_schema_version_is_always_written(
    event: AllocationEvent | AssetCostEvent,
    encode: Callable[[Any], bytes],
    validator: EventValidator | AssetEventValidator,
) -> None:
    document = msgspec.json.decode(encode(event))
    assert document["schema_version"] == 1
    assert "gpu_cost" not in document  # 0, the default
    assert validator.parse(encode(event), NOW) == event  # and read back as the default
    without_version = msgspec.json.encode(
        {k: v for k, v in document.items() if k != "schema_version"}
    )
    assert _reason(validator, without_version) == (
        "schema violation: Object missing required field `schema_version`"
    )
