"""A JSON response whose `Decimal` values are written as JSON numbers with their exact digits.

Litestar's default encoder writes `Decimal` as a string; the FinOps contract wants numbers. Going
through `float` would round-trip most amounts but not every one (16+ significant digits), so
money stays `Decimal` and this encoder (msgspec's `decimal_format="number"`) copies its digits.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response
from litestar.serialization import default_serializer
from litestar.types import Serializer

_DEFAULT = msgspec.json.Encoder(enc_hook=default_serializer, decimal_format="number")


class NumberResponse(Response[Any]):
    def render(
        self, content: Any, media_type: str, enc_hook: Serializer = default_serializer
    ) -> bytes:
        if not media_type.startswith("application/json") or isinstance(content, bytes | str):
            return super().render(content, media_type, enc_hook)
        if enc_hook is default_serializer:
            return _DEFAULT.encode(content)
        # Only when type encoders are configured: Litestar then hands a new hook per response.
        return msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number").encode(content)
