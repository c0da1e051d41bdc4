"""CPU seconds used by the local servers and the aggregator, read from /proc.

On a two-core machine the benchmark's pipeline shares the cores with the broker and the database
server; how each spent its CPU over a run says which one bounds it (and what an emulated broker
costs that Apache Kafka would not: the local one rewrites its data file on every offset commit).
Linux only; elsewhere, or for servers the run did not start, nothing is reported.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[
        text.rindex(")") + 2 :
    ].split()  # fields from the state on (the name may hold spaces)


def process_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU of one process (and of its exited, waited-for children)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def tree_seconds(root: int) -> float:
    """CPU of `root` with its exited children and of its living children (a postmaster and its
    backends, a launcher and the broker it runs)."""
    total = process_seconds(root, with_children=True)
    if not _PROC.is_dir():
        return total
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is not None and int(fields[1]) == root:
            total += tree_seconds(int(entry.name))
    return total


def postmaster_pid(data_dir: Path) -> int | None:
    """The server's pid from its `postmaster.pid` file, if it is running."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
