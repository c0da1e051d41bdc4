"""Time spans of the FinOps endpoints: the `window`/`period` syntax, ISO dates, rollup choice.

A window `N<unit>` is the last N buckets of its unit *including the current one*: `24h` ends
with the current hour, `30d` with today, `4w` with the current ISO week (Monday-based), `3m` with
the current calendar month. Anchoring windows to bucket edges is what lets every total come from
one rollup level exactly, with no partial bucket to estimate. Date ranges are widened to whole
UTC days for the same reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.api.errors import bad_request, validation_error
from shared.timewindows import Resolution, bucket_start, next_bucket, utc

UNITS = {
    "h": Resolution.HOURLY,
    "d": Resolution.DAILY,
    "w": Resolution.WEEKLY,
    "m": Resolution.MONTHLY,
}
MAX_COUNT = {"h": 744, "d": 1830, "w": 261, "m": 60}  # 31 days of hours; about 5 years else
WORDS = {"daily": "1d", "weekly": "1w", "monthly": "1m"}
MAX_RANGE = timedelta(days=1830)
DEFAULT_RANGE = timedelta(days=30)
FIRST_YEAR, LAST_YEAR = 2000, 2999
_WINDOW = re.compile(r"(\d+)([a-z]+)")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Span:
    """[start, end) in UTC, both on hour boundaries or coarser."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Window:
    count: int
    unit: str

    @property
    def text(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def resolution(self) -> Resolution:
        return UNITS[self.unit]

    def ending_now(self, now: datetime) -> Span:
        end = next_bucket(bucket_start(now, self.resolution), self.resolution)
        return Span(self.back_from(end), end)

    def back_from(self, end: datetime) -> datetime:
        """The instant `count` units before `end` (calendar months keep the day, clamped)."""
        if self.unit == "h":
            return end - timedelta(hours=self.count)
        if self.unit == "d":
            return end - self.count * DAY
        if self.unit == "w":
            return end - 7 * self.count * DAY
        return _months_before(end, self.count)

    def before(self, span: Span) -> Span:
        """The span of this length that ends where `span` starts (for period comparisons)."""
        return Span(self.back_from(span.start), span.start)


def _months_before(moment: datetime, count: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - count
    year, month = divmod(index, 12)
    first = moment.replace(year=year, month=month + 1, day=1)
    last_day = (next_bucket(first, Resolution.MONTHLY) - DAY).day
    return first.replace(day=min(moment.day, last_day))


def parse_window(name: str, raw: str | None, default: str) -> Window:
    """`N<h|d|w|m>` or daily/weekly/monthly.

    Unknown units and words are 422 (with what is allowed); anything else unreadable is 400.
    """
    text = default if raw is None else raw.strip().lower()
    text = WORDS.get(text, text)
    match = _WINDOW.fullmatch(text)
    if match is None and text.isascii() and text.isalpha():
        raise validation_error(
            f"'{name}' is not a known period; use <count><unit> such as 30d, or one of "
            f"{', '.join(WORDS)}",
            parameter=name,
            allowed=list(WORDS),
            units=list(UNITS),
        )
    if match is None:
        raise bad_request(
            f"'{name}' must look like 30d: a count and a unit (h, d, w, m), or one of "
            f"{', '.join(WORDS)}",
            parameter=name,
            format="<count><unit>",
            units=list(UNITS),
            words=list(WORDS),
        )
    digits, unit = match.groups()
    if unit not in UNITS:
        raise validation_error(
            f"'{name}' has an unknown unit '{unit[:8]}'; allowed: h, d, w, m",
            parameter=name,
            allowed=list(UNITS),
        )
    limit = MAX_COUNT[unit]
    count = int(digits) if len(digits) <= 6 else limit + 1
    if not 1 <= count <= limit:
        raise validation_error(
            f"'{name}' must count between 1 and {limit} units of '{unit}'",
            parameter=name,
            minimum=1,
            maximum=limit,
        )
    return Window(count, unit)


def _parse_instant(name: str, raw: str) -> tuple[datetime, bool]:
    """(instant in UTC, whether the text was a bare date)."""
    text = raw.strip()
    parsed: datetime | None = None
    is_date = False
    if 0 < len(text) <= 64:
        try:
            day = date.fromisoformat(text)
            parsed, is_date = datetime(day.year, day.month, day.day, tzinfo=UTC), True
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                parsed = None
    if parsed is None:
        raise bad_request(
            f"'{name}' must be an ISO 8601 date (2025-02-01) or date-time (2025-02-01T10:00:00Z)",
            parameter=name,
        )
    # Checked before the conversion to UTC, which overflows at the ends of the calendar.
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise validation_error(
            f"'{name}' must fall between the years {FIRST_YEAR} and {LAST_YEAR}",
            parameter=name,
            minimum=f"{FIRST_YEAR}-01-01",
            maximum=f"{LAST_YEAR}-12-31",
        )
    return utc(parsed), is_date


def _day_floor(moment: datetime) -> datetime:
    return bucket_start(moment, Resolution.DAILY)


def _day_ceil(moment: datetime) -> datetime:
    floor = _day_floor(moment)
    return floor if floor == moment else floor + DAY


def parse_range(start_raw: str | None, end_raw: str | None, now: datetime) -> Span:
    """Whole UTC days: a bare end date is included, an end date-time is rounded up to midnight.

    Missing ends default to today (included) and to 30 days before the end.
    """
    if end_raw is None:
        end = _day_floor(now) + DAY
    else:
        moment, is_date = _parse_instant("endDate", end_raw)
        end = moment + DAY if is_date else _day_ceil(moment)
    if start_raw is None:
        start = end - DEFAULT_RANGE
    else:
        start = _day_floor(_parse_instant("startDate", start_raw)[0])
    if end <= start:
        raise validation_error("'endDate' must be after 'startDate'")
    if end - start > MAX_RANGE:
        raise validation_error(
            f"the date range must not exceed {MAX_RANGE.days} days", maximum_days=MAX_RANGE.days
        )
    return Span(start, end)


def is_anchor(moment: datetime, resolution: Resolution) -> bool:
    return bucket_start(moment, resolution) == moment


def _nests(source: Resolution, granularity: Resolution | None) -> bool:
    """Whether buckets of `source` fit whole inside buckets of `granularity`."""
    if granularity is None or source in (granularity, Resolution.HOURLY):
        return True
    return source is Resolution.DAILY and granularity in (Resolution.WEEKLY, Resolution.MONTHLY)


def source_resolution(span: Span, granularity: Resolution | None = None) -> Resolution:
    """The coarsest rollup whose buckets tile both the span's edges and the output buckets."""
    for candidate in (Resolution.MONTHLY, Resolution.WEEKLY, Resolution.DAILY):
        if (
            is_anchor(span.start, candidate)
            and is_anchor(span.end, candidate)
            and _nests(candidate, granularity)
        ):
            return candidate
    return Resolution.HOURLY
