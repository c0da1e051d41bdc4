"""Typed decoding of allocation and assets responses: only the fields the collector maps, in C.

Decoding a whole response into dicts made a `Decimal` of every number Kubecost sends (about sixty
an allocation, a third of them used) and left the mapping to dig through dicts in Python; it was
most of the collector's time. Here msgspec decodes straight into the structs below, skipping the
fields nobody reads, and still reads every number as an exact `Decimal` from its JSON text.

The typed decoder is strict, so it only ever takes the well-formed answers: a response it refuses
(a string where a number belongs, bare NaN tokens, a null allocation, an error code) is decoded
again by the tolerant `kubecost_response.steps_of`, and its dicts are converted to the same
structs by `allocation_of`/`asset_of`. Both paths give the same structs for the same answer: a
number that is null or absent is None, one that is junk or not finite is `INVALID` (NaN), counted
by the mapping as an invalid number; a text that is not a string is None. Money stays `Decimal`;
usage and sizes, floats in the events anyway, are decoded as floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from services.collector.kubecost_response import number, steps_of, string_map

# A number that was present but unusable (junk, NaN, infinite): the mapping counts it as zero.
INVALID = Decimal("NaN")

Number = Decimal | None
# Usage and sizes are floats in the events: decoded as floats directly (correctly rounded from
# the text, as float(Decimal(text)) is); INVALID_QUANTITY (NaN) marks junk, as INVALID does.
Quantity = float | None
INVALID_QUANTITY = float("nan")
Text = str | None


class TimeWindow(msgspec.Struct, gc=False):
    start: Text = None
    end: Text = None


class AllocationProperties(msgspec.Struct, rename="camel", gc=False):
    namespace: Text = None
    controller_kind: Text = None
    controller: Text = None
    pod: Text = None
    node: Text = None
    container: Text = None
    labels: dict[str, str] | None = None


class Allocation(msgspec.Struct, rename="camel", gc=False):
    """The fields of one Kubecost allocation the collector maps (JSON names in camelCase)."""

    name: Text = None
    properties: AllocationProperties | None = None
    window: TimeWindow | None = None
    start: Text = None
    end: Text = None
    cpu_cost: Number = None
    cpu_cost_adjustment: Number = None
    gpu_cost: Number = None
    gpu_cost_adjustment: Number = None
    ram_cost: Number = None
    ram_cost_adjustment: Number = None
    pv_cost: Number = None
    pv_cost_adjustment: Number = None
    network_cost: Number = None
    network_cost_adjustment: Number = None
    load_balancer_cost: Number = None
    load_balancer_cost_adjustment: Number = None
    shared_cost: Number = None
    external_cost: Number = None
    total_cost: Number = None
    minutes: Quantity = None
    cpu_core_hours: Quantity = None
    cpu_core_request_average: Quantity = None
    cpu_core_usage_average: Quantity = None
    ram_byte_hours: Quantity = None
    ram_byte_request_average: Quantity = None
    ram_byte_usage_average: Quantity = None
    gpu_hours: Quantity = None
    gpu_request_average: Quantity = None
    gpu_usage_average: Quantity = None


class AssetProperties(msgspec.Struct, gc=False):
    name: Text = None
    provider_id: Text = msgspec.field(default=None, name="providerID")


class Asset(msgspec.Struct, rename="camel", gc=False):
    """The fields of one asset (node, disk, load balancer, ...) the collector maps."""

    type: Text = None
    properties: AssetProperties | None = None
    labels: dict[str, str] | None = None
    pool: Text = None
    window: TimeWindow | None = None
    start: Text = None
    end: Text = None
    cpu_cost: Number = None
    ram_cost: Number = None
    gpu_cost: Number = None
    adjustment: Number = None
    total_cost: Number = None
    discount: Quantity = None
    cpu_cores: Quantity = None
    ram_bytes: Quantity = None
    gpu_count: Quantity = None
    size_bytes: Quantity = msgspec.field(default=None, name="bytes")
    minutes: Quantity = None


S = TypeVar("S", Allocation, Asset)
# A step: name -> allocation (or asset); None stands for a value that was not an object.
AllocationStep = dict[str, Allocation | None]
AssetStep = dict[str, Asset | None]


class _AllocationResponse(msgspec.Struct):
    code: int = 200
    data: list[dict[str, Allocation] | None] | dict[str, Allocation] | None = None


class _AssetResponse(msgspec.Struct):
    code: int = 200
    data: list[dict[str, Asset] | None] | dict[str, Asset] | None = None


_allocations = msgspec.json.Decoder(_AllocationResponse)
_assets = msgspec.json.Decoder(_AssetResponse)


def allocation_steps_of(body: bytes) -> list[AllocationStep]:
    """The steps of an allocation response; raises `KubecostResponseError` like `steps_of`."""
    try:
        response = _allocations.decode(body)
    except msgspec.MsgspecError:
        response = None
    if response is not None and response.code == 200:
        return list(_steps(response.data))
    return [{k: allocation_of(v) for k, v in step.items()} for step in steps_of(body)]


def asset_steps_of(body: bytes) -> list[AssetStep]:
    """The steps of an assets response; raises `KubecostResponseError` like `steps_of`."""
    try:
        response = _assets.decode(body)
    except msgspec.MsgspecError:
        response = None
    if response is not None and response.code == 200:
        return list(_steps(response.data))
    return [{k: asset_of(v) for k, v in step.items()} for step in steps_of(body)]


def _steps(data: list[dict[str, S] | None] | dict[str, S] | None) -> list[dict[str, S | None]]:
    if data is None:
        return []
    if isinstance(data, dict):
        return [dict(data)]
    return [dict(step) for step in data if step is not None]


def _number(value: object) -> Number:
    if value is None:
        return None
    found = number(value)
    return INVALID if found is None else found


def _quantity(value: object) -> Quantity:
    if value is None:
        return None
    found = number(value)
    return INVALID_QUANTITY if found is None else float(found)


def _text(value: object) -> Text:
    return value if isinstance(value, str) else None


def _window(value: object) -> TimeWindow | None:
    if not isinstance(value, dict):
        return None
    return TimeWindow(_text(value.get("start")), _text(value.get("end")))


def _fields(struct: type[msgspec.Struct], kind: object) -> dict[str, str]:
    """Field name -> JSON name of the struct's fields of one type."""
    return {f.name: f.encode_name for f in msgspec.structs.fields(struct) if f.type == kind}


_ALLOCATION_NUMBERS = _fields(Allocation, Number)
_ALLOCATION_QUANTITIES = _fields(Allocation, Quantity)
_ASSET_NUMBERS = _fields(Asset, Number)
_ASSET_QUANTITIES = _fields(Asset, Quantity)


def _amounts(
    value: dict[str, Any], numbers: dict[str, str], quantities: dict[str, str]
) -> dict[str, Any]:
    """The number fields of a struct (money as Decimal, quantities as float) read from a dict."""
    found: dict[str, Any] = {field: _number(value.get(key)) for field, key in numbers.items()}
    found.update((field, _quantity(value.get(key))) for field, key in quantities.items())
    return found


def allocation_of(value: object) -> Allocation | None:
    """The struct of an allocation decoded as a dict (None when it is not an object)."""
    if isinstance(value, Allocation):
        return value
    if not isinstance(value, dict):
        return None
    props: dict[str, Any] = value.get("properties") or {}
    if not isinstance(props, dict):
        props = {}
    return Allocation(
        name=_text(value.get("name")),
        properties=AllocationProperties(
            namespace=_text(props.get("namespace")),
            controller_kind=_text(props.get("controllerKind")),
            controller=_text(props.get("controller")),
            pod=_text(props.get("pod")),
            node=_text(props.get("node")),
            container=_text(props.get("container")),
            labels=string_map(props.get("labels")),
        ),
        window=_window(value.get("window")),
        start=_text(value.get("start")),
        end=_text(value.get("end")),
        **_amounts(value, _ALLOCATION_NUMBERS, _ALLOCATION_QUANTITIES),
    )


def asset_of(value: object) -> Asset | None:
    """The struct of an asset decoded as a dict (None when it is not an object)."""
    if isinstance(value, Asset):
        return value
    if not isinstance(value, dict):
        return None
    props: dict[str, Any] = value.get("properties") or {}
    if not isinstance(props, dict):
        props = {}
    return Asset(
        type=_text(value.get("type")),
        properties=AssetProperties(
            name=_text(props.get("name")), provider_id=_text(props.get("providerID"))
        ),
        labels=string_map(value.get("labels")),
        pool=_text(value.get("pool")),
        window=_window(value.get("window")),
        start=_text(value.get("start")),
        end=_text(value.get("end")),
        **_amounts(value, _ASSET_NUMBERS, _ASSET_QUANTITIES),
    )
