"""Process-wide logging set up once by the CLI, level from COSTPIPE_LOG_LEVEL.

COSTPIPE_LOG_FORMAT chooses `json` (one object per line, what log pipelines in a cluster want)
or `text` (for people at a terminal); by default JSON unless stderr is a terminal. Fields passed
with `extra=` (such as `request_id`, `batch_id`, `cluster`) become keys of the JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(default_level: str = "INFO") -> None:
    level = os.environ.get("COSTPIPE_LOG_LEVEL", default_level).upper()
    chosen = os.environ.get("COSTPIPE_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler()
    if chosen == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # aiokafka logs every transient connection problem at ERROR; we report those ourselves.
    # httpx logs every request at INFO; the collector logs what matters per window itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
