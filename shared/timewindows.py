"""UTC time arithmetic shared by the collector (hourly windows) and the rollups (bucket anchors).

Every bucket is anchored in UTC: hours, days, ISO weeks starting Monday, calendar months. Python's
and PostgreSQL's `date_trunc('week', ...)` agree on Monday, so the API and the database produce the
same anchors.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum

HOUR = timedelta(hours=1)


class Resolution(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


def utc(dt: datetime) -> datetime:
    """The same instant as an aware UTC datetime; naive input is taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def floor_hour(dt: datetime) -> datetime:
    return utc(dt).replace(minute=0, second=0, microsecond=0)


def bucket_start(dt: datetime, resolution: Resolution) -> datetime:
    """The anchor of the bucket containing `dt` at `resolution`."""
    hour = floor_hour(dt)
    if resolution is Resolution.HOURLY:
        return hour
    day = hour.replace(hour=0)
    if resolution is Resolution.DAILY:
        return day
    if resolution is Resolution.WEEKLY:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(anchor: datetime, resolution: Resolution) -> datetime:
    """The anchor following `anchor`, which must itself be an anchor at `resolution`."""
    if resolution is Resolution.HOURLY:
        return anchor + HOUR
    if resolution is Resolution.DAILY:
        return anchor + timedelta(days=1)
    if resolution is Resolution.WEEKLY:
        return anchor + timedelta(days=7)
    if anchor.month == 12:
        return anchor.replace(year=anchor.year + 1, month=1)
    return anchor.replace(month=anchor.month + 1)


def buckets(start: datetime, end: datetime, resolution: Resolution) -> Iterator[datetime]:
    """Anchors of every bucket that overlaps [start, end)."""
    anchor = bucket_start(start, resolution)
    end = utc(end)
    while anchor < end:
        yield anchor
        anchor = next_bucket(anchor, resolution)


def hourly_windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Whole-hour windows covering [start, end), start floored and end ceiled to the hour."""
    cursor = floor_hour(start)
    end = utc(end)
    while cursor < end:
        yield cursor, cursor + HOUR
        cursor += HOUR


def isoformat_z(dt: datetime) -> str:
    """RFC 3339 with a `Z` suffix, second precision, as both API specs show."""
    return utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")
