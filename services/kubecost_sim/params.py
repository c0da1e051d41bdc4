"""Query-parameter parsing with Kubecost/OpenCost semantics.

Kept separate from the HTTP layer so the window rules (which are subtle: "7d" means today plus
the six previous whole UTC days, "24h" ends at the end of the current hour) are unit-testable
without a server. Every failure is a `ParamError`, which the server turns into a 400.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d+)(m|h|d|w)$")
_TIMESTAMP_PAIR = re.compile(r"^(\d+)[,-](\d+)$")
_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DAY = timedelta(days=1)
# A bound on one request's work; a year of hours is the largest thing anyone should ask for.
MAX_WINDOW = timedelta(days=800)


class ParamError(ValueError):
    """A query parameter Kubecost would reject."""


def _floor(t: datetime, unit: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((t - epoch) // unit) * unit


def _ceil(t: datetime, unit: timedelta) -> datetime:
    floored = _floor(t, unit)
    return floored if floored == t else floored + unit


def _named_window(raw: str, now: datetime) -> tuple[datetime, datetime] | None:
    today = _floor(now, _DAY)
    if raw == "today":
        return today, today + _DAY
    if raw == "yesterday":
        return today - _DAY, today
    # Kubecost's weeks start on Sunday.
    sunday = today - _DAY * ((today.weekday() + 1) % 7)
    if raw == "week":
        return sunday, now
    if raw == "lastweek":
        return sunday - 7 * _DAY, sunday
    first = today.replace(day=1)
    if raw == "month":
        return first, now
    if raw == "lastmonth":
        return (first - _DAY).replace(day=1), first
    return None


def _parse_instant(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ParamError(f"illegal window bound: {text!r}") from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_window(raw: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a `window` parameter, widened to whole hours."""
    if raw is None or not raw.strip():
        raise ParamError("missing required parameter: window")
    raw = raw.strip()
    span = _named_window(raw, now)
    if span is None and (m := _DURATION.match(raw)):
        num, unit = int(m.group(1)), _UNITS[m.group(2)]
        # "Nw" ends with today; the other units end with the current minute/hour/day.
        last = _DAY if m.group(2) == "w" else unit
        end = _floor(now, last) + last
        try:
            span = (end - num * unit, end)
        except OverflowError as exc:
            raise ParamError(f"illegal window: {raw!r}") from exc
    if span is None and (m := _TIMESTAMP_PAIR.match(raw)):
        try:
            span = (
                datetime.fromtimestamp(int(m.group(1)), UTC),
                datetime.fromtimestamp(int(m.group(2)), UTC),
            )
        except (OverflowError, OSError, ValueError) as exc:
            raise ParamError(f"illegal window: {raw!r}") from exc
    if span is None and raw.count(",") == 1:
        first, second = raw.split(",")
        span = (_parse_instant(first), _parse_instant(second))
    if span is None:
        raise ParamError(f"illegal window: {raw!r}")
    if span[1] <= span[0]:
        raise ParamError(f"illegal window: {raw!r} (end must be after start)")
    start, end = _floor(span[0], timedelta(hours=1)), _ceil(span[1], timedelta(hours=1))
    if end - start > MAX_WINDOW:
        raise ParamError(f"window too long: {raw!r} (at most {MAX_WINDOW.days} days)")
    return start, end


def parse_step(raw: str | None) -> timedelta:
    """A `step` parameter; the simulator's resolution is one hour, so steps are whole hours."""
    if raw is None or not raw.strip():
        return timedelta(hours=1)
    m = _DURATION.match(raw.strip())
    if not m:
        raise ParamError(f"illegal step: {raw!r}")
    try:
        step = int(m.group(1)) * _UNITS[m.group(2)]
    except OverflowError as exc:
        raise ParamError(f"illegal step: {raw!r}") from exc
    if step <= timedelta(0) or step % timedelta(hours=1):
        raise ParamError(f"illegal step: {raw!r} (must be a positive multiple of 1h)")
    return step


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    """Boolean flag as Go's strconv.ParseBool reads it."""
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("true", "t", "1"):
        return True
    if value in ("false", "f", "0"):
        return False
    raise ParamError(f"illegal value for {name}: {raw!r}")


def steps(start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive [s, e) steps of [start, end); the last one is cut at `end`."""
    out = []
    cursor = start
    while cursor < end:
        nxt = min(cursor + step, end)
        out.append((cursor, nxt))
        cursor = nxt
    return out
