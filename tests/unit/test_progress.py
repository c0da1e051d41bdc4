"""Backfill progress: a redrawn status line on a real terminal (a pty), log lines elsewhere."""

from __future__ import annotations

import io
import logging
import os
import select
from collections.abc import Iterator

import pytest

from shared.progress import Labels, LogProgress, TerminalProgress, progress_for
from tests.support.collector_logs import logged_lines


class Clock:
    """Time that moves only when the test says so, so rates and ETAs are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def terminal() -> Iterator[tuple[io.TextIOWrapper, int]]:
    controller, device = os.openpty()
    stream = open(device, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield stream, controller
    finally:
        stream.close()
        os.close(controller)


def _screen(controller: int) -> str:
    """Everything written so far: one read can return only part of it (the terminal delivers
    output in pieces), so read until nothing more arrives for a moment."""
    chunks = []
    while select.select([controller], [], [], 0.2)[0]:
        chunks.append(os.read(controller, 65536))
    return b"".join(chunks).decode()


def test_a_terminal_gets_one_line_redrawn_in_place(terminal: tuple[io.TextIOWrapper, int]) -> None:
    stream, controller = terminal
    assert isinstance(progress_for(stream, 10), TerminalProgress)
    clock = Clock()
    progress = TerminalProgress(stream, clock=clock, width=lambda: 200)
    progress.begin("eu", 10)
    progress.begin("us", 4)
    for _ in range(4):
        clock.now += 0.5
        progress.advance("eu")
    clock.now += 1.0
    progress.advance("us")
    shown = _screen(controller)
    assert "\n" not in shown
    last = shown.rsplit("\r", 1)[1]
    assert last == "backfill: eu 4/10 windows 1.3/s ETA 0:04 | us 1/4 windows 0.3/s ETA 0:09\x1b[K"
    progress.end("eu")
    progress.end("us")
    assert _screen(controller).endswith("\r\x1b[K")  # the line is wiped when all are done
    progress.close()


def test_redraws_are_throttled(terminal: tuple[io.TextIOWrapper, int]) -> None:
    stream, controller = terminal
    clock = Clock()
    progress = TerminalProgress(stream, clock=clock, min_interval=0.2, width=lambda: 200)
    progress.begin("eu", 1000)
    _screen(controller)
    for _ in range(100):
        progress.advance("eu")  # no time passes: nothing is redrawn
    clock.now += 0.3
    progress.advance("eu")
    assert _screen(controller).count("\r") == 1
    progress.close()


def test_a_long_line_is_cut_to_the_terminal_width(terminal: tuple[io.TextIOWrapper, int]) -> None:
    stream, controller = terminal
    progress = TerminalProgress(stream, clock=Clock(), width=lambda: 40)
    for i in range(10):
        progress.begin(f"cluster-{i}", 10)
    last = _screen(controller).rsplit("\r", 1)[1].removesuffix("\x1b[K")
    assert len(last) == 39
    assert last.endswith("...")
    progress.close()


def test_log_records_never_share_a_line_with_the_status(
    terminal: tuple[io.TextIOWrapper, int],
) -> None:
    stream, controller = terminal
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        progress = TerminalProgress(stream, clock=Clock(), width=lambda: 200)
        progress.begin("eu", 10)
        logging.getLogger("costpipe.test").warning("window failed")
        progress.close()
        logging.getLogger("costpipe.test").warning("after close")
    finally:
        root.removeHandler(handler)
    shown = _screen(controller)
    assert "eu 0/10 windows\x1b[K\r\x1b[Kwindow failed" in shown
    assert shown.count("\x1b[K") == 2  # drawn once, cleared once; nothing after close


def test_elsewhere_a_log_line_every_n_windows() -> None:
    assert isinstance(progress_for(io.StringIO(), 3), LogProgress)
    clock = Clock()
    progress = LogProgress(3, clock=clock)
    progress.begin("eu", 7)
    with logged_lines("shared.progress") as lines:
        for _ in range(7):
            clock.now += 2.0
            progress.advance("eu")
    progress.end("eu")
    assert lines == [
        "backfill progress: eu 3/7 windows 0.5/s ETA 0:08",
        "backfill progress: eu 6/7 windows 0.5/s ETA 0:02",
    ]


def test_counts_advance_in_steps_and_name_their_unit() -> None:
    clock = Clock()
    progress = LogProgress(1000, clock=clock, labels=Labels("replay", "events"))
    progress.begin("deadletter", 2500)
    with logged_lines("shared.progress") as lines:
        for _ in range(5):
            clock.now += 1.0
            progress.advance("deadletter", 500)
    assert lines == [
        "replay progress: deadletter 1000/2500 events 500.0/s ETA 0:03",
        "replay progress: deadletter 2000/2500 events 500.0/s ETA 0:01",
    ]
