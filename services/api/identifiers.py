"""Path identifiers: UUIDs, and the 26-character ULID spelling of the same 128 bits.

The spec says `workload_uid` is a UUID, yet its own example is a ULID; both name 128 bits, so both
are accepted and mean the same workload.
"""

from __future__ import annotations

import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_CROCKFORD)}
_DECODE.update({"I": 1, "L": 1, "O": 0})


def ulid_to_uuid(text: str) -> uuid.UUID | None:
    if len(text) != 26:
        return None
    value = 0
    for char in text.upper():
        digit = _DECODE.get(char)
        if digit is None:
            return None
        value = value * 32 + digit
    if value >= 1 << 128:
        return None
    return uuid.UUID(int=value)


def uuid_to_ulid(value: uuid.UUID) -> str:
    number = value.int
    chars = []
    for _ in range(26):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def parse_uuid_or_ulid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return ulid_to_uuid(text)
