"""Decoding of Kubecost/OpenCost JSON responses, exactly and tolerantly.

Numbers are decoded as `Decimal` straight from the JSON text so costs reach micro-units without a
detour through binary floats. Every field is optional: Kubecost versions differ, and some emit
null, "NaN" or bare NaN/Infinity tokens (not JSON) for values they could not compute; those count
as zero and are reported, never crash the collector.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import msgspec

_decoder = msgspec.json.Decoder(float_hook=Decimal)
_BARE_NON_FINITE = re.compile(rb"(?<=[:\[,])\s*-?(?:NaN|Infinity)\s*(?=[,\]}])")


class KubecostResponseError(ValueError):
    """The response is not a usable allocation/assets answer (bad JSON, error code, bad shape)."""


def decode_json(body: bytes) -> Any:
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as first_error:
        cleaned = _BARE_NON_FINITE.sub(b"null", body)
        if cleaned == body:
            raise KubecostResponseError(f"invalid JSON: {first_error}") from first_error
        try:
            return _decoder.decode(cleaned)
        except msgspec.DecodeError as exc:
            raise KubecostResponseError(f"invalid JSON: {exc}") from exc


def steps_of(body: bytes) -> list[dict[str, Any]]:
    """The list of per-step sets (`name -> object`) of an allocation or assets response.

    Kubecost answers `data: [set, ...]` for allocations and either a list or a single set for
    assets; an empty or null `data` means no data for the window.
    """
    document = decode_json(body)
    if not isinstance(document, dict):
        raise KubecostResponseError("response is not a JSON object")
    code = document.get("code", 200)
    if code != 200:
        message = document.get("message") or document.get("status") or "error"
        raise KubecostResponseError(f"response code {code}: {message}")
    data = document.get("data")
    if data is None:
        return []
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise KubecostResponseError("response 'data' is neither a list nor an object")
    steps: list[dict[str, Any]] = []
    for step in data:
        if step is None:
            continue
        if not isinstance(step, dict):
            raise KubecostResponseError("a step of 'data' is not an object")
        steps.append(step)
    return steps


def number(value: object) -> Decimal | None:
    """A finite Decimal, or None for null, NaN, infinities, strings and other junk."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        try:
            parsed = Decimal(value)
        except ArithmeticError:
            return None
        return parsed if parsed.is_finite() else None
    return None


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def string_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}
