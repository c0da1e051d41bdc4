"""Collecting one logger's lines directly, independent of the root logger's configuration.

pytest's `caplog` hangs on the root logger, and the simulator's web framework reconfigures the
root logger when it starts, which detaches `caplog` for the rest of the session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def logged_lines(name: str) -> Iterator[list[str]]:
    """The messages logged at INFO or above to logger `name` inside the block."""
    logger = logging.getLogger(name)
    handler = _Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
