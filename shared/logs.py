"""Process-wide logging set up once by the CLI, level from COSTPIPE_LOG_LEVEL.

COSTPIPE_LOG_FORMAT chooses `json` (one object per line, what log pipelines in a cluster want)
or `text` (for people at a terminal); by default JSON unless stderr is a terminal. Fields passed
with `extra=` (such as `request_id`, `batch_id`, `cluster`) become keys of the JSON object, and so
do the fields bound with `log_context` / `bind_log_context` for the work in progress (a request, a
batch, a cluster's window): every line logged meanwhile carries them, whoever logs it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


_context: ContextVar[Mapping[str, str]] = ContextVar("costpipe_log_context", default={})  # noqa: B039 - never mutated


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Fields every line logged inside the block carries (in this task and the threads it
    hands work to)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**fields: str) -> None:
    """Like `log_context` for the rest of the current task, where no block spans the work (a
    request hook runs before its handler, in the same task)."""
    _context.set({**_context.get(), **fields})


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record; a field passed with `extra=` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """One line for a terminal, the bound fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={value}" for key, value in _fields(record))
        return f"{line} [{fields}]" if fields else line


def _fields(record: logging.LogRecord) -> list[tuple[str, Any]]:
    return [
        (key, value)
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    ]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(default_level: str = "INFO") -> None:
    level = os.environ.get("COSTPIPE_LOG_LEVEL", default_level).upper()
    chosen = os.environ.get("COSTPIPE_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # aiokafka logs every transient connection problem at ERROR; we report those ourselves.
    # httpx logs every request at INFO; the collector logs what matters per window itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
