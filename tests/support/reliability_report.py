"""Figures a reliability run produces (faults survived, inputs tried, requests served,
latencies), kept where docs/reliability.md can be refreshed from a real run.

Set COSTPIPE_RELIABILITY_REPORT to a file path and each figure is merged into that JSON file;
without it the figures only go to the test's output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def record(name: str, value: object) -> None:
    print(f"reliability figure: {name} = {value}")
    target = os.environ.get("COSTPIPE_RELIABILITY_REPORT")
    if not target:
        return
    path = Path(target)
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
