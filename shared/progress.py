"""Progress of long operations (a backfill's windows per cluster, a replay's or a benchmark's
events): done/total, rate and ETA per task.

On a terminal one status line is redrawn in place (at most a few times a second, cleared before
any log record so the two never mix on one line). Anywhere else (a pod's log, a file, a pipe)
redrawing makes no sense, so a plain log line is written every N windows instead.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Labels:
    """What the operation is called and what it counts."""

    title: str = "backfill"
    unit: str = "windows"


BACKFILL = Labels()


class Progress(Protocol):
    def begin(self, cluster: str, total: int) -> None: ...

    def advance(self, cluster: str, count: int = 1) -> None: ...

    def end(self, cluster: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class Task:
    total: int
    started: float
    done: int = 0

    def describe(self, cluster: str, now: float, unit: str = BACKFILL.unit) -> str:
        elapsed = now - self.started
        text = f"{cluster} {self.done}/{self.total} {unit}"
        if self.done and elapsed > 0:
            rate = self.done / elapsed
            eta = (self.total - self.done) / rate
            text += f" {rate:.1f}/s ETA {format_duration(eta)}"
        return text


def format_duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Tasks:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.tasks: dict[str, Task] = {}

    def begin(self, cluster: str, total: int) -> None:
        self.tasks[cluster] = Task(total=total, started=self.clock())

    def advance(self, cluster: str, count: int) -> Task | None:
        task = self.tasks.get(cluster)
        if task is not None:
            task.done += count
        return task


class NoProgress:
    def begin(self, cluster: str, total: int) -> None:
        return None

    def advance(self, cluster: str, count: int = 1) -> None:
        return None

    def end(self, cluster: str) -> None:
        return None

    def close(self) -> None:
        return None


class LogProgress:
    """A log line every `every` units per task, for logs read later by people or tools."""

    def __init__(
        self, every: int, clock: Callable[[], float] = time.monotonic, labels: Labels = BACKFILL
    ) -> None:
        self.every = every
        self.labels = labels
        self._tasks = _Tasks(clock)
        self._logged: dict[str, int] = {}

    def begin(self, cluster: str, total: int) -> None:
        self._tasks.begin(cluster, total)
        self._logged[cluster] = 0

    def advance(self, cluster: str, count: int = 1) -> None:
        task = self._tasks.advance(cluster, count)
        if task is None or task.done >= task.total:
            return
        step = task.done // self.every
        if step > self._logged.get(cluster, 0):
            self._logged[cluster] = step
            now = self._tasks.clock()
            log.info(
                "%s progress: %s", self.labels.title, task.describe(cluster, now, self.labels.unit)
            )

    def end(self, cluster: str) -> None:
        self._tasks.tasks.pop(cluster, None)

    def close(self) -> None:
        return None


class _ClearLine(logging.Filter):
    """Runs before a handler writes a record: wipes the status line so the record starts clean."""

    def __init__(self, progress: TerminalProgress) -> None:
        super().__init__()
        self._progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self._progress.clear()
        return True


class TerminalProgress:
    """One status line on a terminal, redrawn in place, for every cluster still catching up."""

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 0.2,
        width: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
        labels: Labels = BACKFILL,
    ) -> None:
        self.labels = labels
        self._stream = stream
        self._tasks = _Tasks(clock)
        self._min_interval = min_interval
        self._width = width
        self._drawn_at: float | None = None
        self._visible = False
        self._filter = _ClearLine(self)
        self._handlers = [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and h.stream is stream
        ]
        for handler in self._handlers:
            handler.addFilter(self._filter)

    def begin(self, cluster: str, total: int) -> None:
        self._tasks.begin(cluster, total)
        self._draw(force=True)

    def advance(self, cluster: str, count: int = 1) -> None:
        if self._tasks.advance(cluster, count) is not None:
            self._draw(force=False)

    def end(self, cluster: str) -> None:
        if self._tasks.tasks.pop(cluster, None) is not None:
            self._draw(force=True)

    def clear(self) -> None:
        if self._visible:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._visible = False

    def close(self) -> None:
        self.clear()
        for handler in self._handlers:
            handler.removeFilter(self._filter)

    def _draw(self, *, force: bool) -> None:
        now = self._tasks.clock()
        recent = self._drawn_at is not None and now - self._drawn_at < self._min_interval
        if recent and self._visible and not force:
            return
        if not self._tasks.tasks:
            self.clear()
            return
        parts = [
            task.describe(name, now, self.labels.unit) for name, task in self._tasks.tasks.items()
        ]
        line = f"{self.labels.title}: " + " | ".join(parts)
        limit = max(self._width() - 1, 10)
        if len(line) > limit:
            line = line[: limit - 3] + "..."
        self._stream.write("\r" + line + "\x1b[K")
        self._stream.flush()
        self._drawn_at = now
        self._visible = True


def progress_for(stream: TextIO, every: int, labels: Labels = BACKFILL) -> Progress:
    """A status line when `stream` is a terminal, periodic log lines otherwise."""
    try:
        interactive = stream.isatty()
    except ValueError:  # a closed stream
        interactive = False
    return (
        TerminalProgress(stream, labels=labels)
        if interactive
        else LogProgress(every, labels=labels)
    )
